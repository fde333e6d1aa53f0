package app

import (
	"runtime"
	"runtime/debug"
)

// Version is set at build time with -ldflags "-X …/app.Version=v1.2.3";
// otherwise the module's build information is used.
var Version = ""

func versionString() string {
	v := Version
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	out := "enilab " + v
	if rev != "" {
		out += " (" + rev + ")"
	}
	return out + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
