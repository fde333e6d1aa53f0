package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that every rejected
// input comes with at least one problem, each naming the file and, unless the
// file is empty or not YAML at all, the line.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../scenarios/*.yaml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(minimal))
	f.Add([]byte("steps: [{expect: {node: a, subnetFree: {x: 1}}}]\nnodes: &n [*n]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("f.yaml", data)
		if err == nil {
			if sc == nil || len(sc.Nodes) == 0 {
				t.Fatalf("accepted a scenario without nodes: %q", data)
			}
			return
		}
		ps, ok := err.(Problems)
		if !ok || len(ps) == 0 {
			t.Fatalf("error is not a non-empty Problems list: %v", err)
		}
		for _, p := range ps {
			unlocated := strings.HasPrefix(p.Msg, "not valid YAML") || strings.HasPrefix(p.Msg, "the file is empty")
			if p.File != "f.yaml" || p.Msg == "" || (p.Line < 1 && !unlocated) {
				t.Fatalf("problem without file, line or message: %#v", p)
			}
		}
	})
}
