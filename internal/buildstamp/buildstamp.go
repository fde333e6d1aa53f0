// Package buildstamp tells the binaries of one build from those of
// another. `make build` links every command with a stamp of the source
// tree it built (scripts/source-stamp.sh), recorded in each binary's build
// information. A lab run by bin/enilab then runs the aws-cni and egress-cni
// of its own build beside it, as a node runs its plugin binaries, and
// re-executes itself as a plugin only when there are none of that build:
// bin/enilab links the whole lab, so its start costs more than twice a
// plugin's, at every CNI call (docs/performance.md, ninth round).
package buildstamp

import (
	"debug/buildinfo"
	"os"
	"path/filepath"
	"strings"
)

// Var is the variable `make build` sets with the linker's -X.
const Var = "github.com/enilab/enilab/internal/buildstamp.stamp"

// stamp is the running binary's; "" when it was built without one (go
// build, go install, go test).
var stamp string

// Sibling returns the binary called name beside the running executable
// when it carries the running binary's stamp. It reports false when the
// running binary has no stamp, when there is no such file, and when the
// file is of another build or of none.
func Sibling(name string) (string, bool) {
	exe, err := os.Executable()
	if err != nil {
		return "", false
	}
	return siblingOf(exe, name, stamp)
}

func siblingOf(exe, name, own string) (string, bool) {
	if own == "" {
		return "", false
	}
	p := filepath.Join(filepath.Dir(exe), name)
	if s, err := Of(p); err != nil || s != own {
		return "", false
	}
	return p, true
}

// Of returns the stamp recorded in the build information of the Go binary
// at path, "" when it has none.
func Of(path string) (string, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, s := range bi.Settings {
		if s.Key == "-ldflags" {
			return fromLDFlags(s.Value), nil
		}
	}
	return "", nil
}

// fromLDFlags finds Var's value among linker flags, written "-X name=value"
// or "-X=name=value" (the go command records them as given).
func fromLDFlags(flags string) string {
	f := strings.Fields(flags)
	for i, a := range f {
		var def string
		switch {
		case a == "-X" && i+1 < len(f):
			def = f[i+1]
		case strings.HasPrefix(a, "-X="):
			def = a[len("-X="):]
		}
		if v, ok := strings.CutPrefix(def, Var+"="); ok {
			return v
		}
	}
	return ""
}
