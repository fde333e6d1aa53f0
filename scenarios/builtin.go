// Package scenarios holds enilab's built-in scenario files, embedded so the
// enilab binary can list and print them wherever it runs.
package scenarios

import (
	"embed"
	"path"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Builtin is one built-in scenario file.
type Builtin struct {
	// Name is the file name without .yaml.
	Name string
	// Summary is the file's first comment line.
	Summary string
	// Source is the whole file.
	Source []byte
}

// All returns the built-in scenarios sorted by name.
func All() []Builtin {
	entries, _ := files.ReadDir(".") // an embedded directory always reads
	var out []Builtin
	for _, e := range entries {
		src, _ := files.ReadFile(e.Name())
		out = append(out, Builtin{Name: strings.TrimSuffix(e.Name(), path.Ext(e.Name())), Summary: summary(src), Source: src})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the built-in scenario called name.
func Lookup(name string) (Builtin, bool) {
	for _, b := range All() {
		if b.Name == name {
			return b, true
		}
	}
	return Builtin{}, false
}

// summary is the first sentence of the file's opening comment.
func summary(src []byte) string {
	var para []string
	for _, line := range strings.Split(string(src), "\n") {
		text, ok := strings.CutPrefix(line, "#")
		text = strings.TrimSpace(text)
		if !ok || text == "" {
			break
		}
		para = append(para, text)
	}
	joined := strings.Join(para, " ")
	if i := strings.Index(joined, ". "); i >= 0 {
		return joined[:i+1]
	}
	return joined
}
