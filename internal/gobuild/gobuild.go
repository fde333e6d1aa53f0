// Package gobuild builds this module's commands as `make build` does, for
// the tests and benchmarks that execute them: static (CGO_ENABLED=0, as
// upstream builds its plugins) and without grpc-go's x/net/trace, which no
// binary turns on (the grpcnotrace tag). A plugin starts for every CNI
// call, so how it is built is part of what a pod start costs
// (docs/performance.md).
package gobuild

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/enilab/enilab/internal/buildstamp"
)

// Tags are the build tags of every command; the Makefile's BUILD_TAGS.
const Tags = "grpcnotrace"

// cgoOff is added to the go tool's environment; the Makefile's BUILD_ENV.
const cgoOff = "CGO_ENABLED=0"

// Command builds the main package pkg (as go build names it, relative to
// the working directory) into the file out, without a build stamp.
func Command(out, pkg string) error {
	return run(pkg, "build", "-tags", Tags, "-o", out, pkg)
}

// Commands builds the main packages pkgs into the directory dir, without a
// build stamp.
func Commands(dir string, pkgs ...string) error { return intoDir(dir, nil, pkgs) }

// Stamped builds the main packages pkgs into the directory dir with the
// build stamp stamp, as `make build` builds bin/ (internal/buildstamp).
func Stamped(dir, stamp string, pkgs ...string) error {
	return intoDir(dir, []string{"-ldflags", "-X " + buildstamp.Var + "=" + stamp}, pkgs)
}

// intoDir builds pkgs into dir with the extra go build flags.
func intoDir(dir string, flags, pkgs []string) error {
	args := append([]string{"build", "-tags", Tags}, flags...)
	args = append(append(args, "-o", dir+"/"), pkgs...)
	return run(strings.Join(pkgs, " "), args...)
}

func run(what string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), cgoOff)
	b, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	if out := strings.TrimSpace(string(b)); out != "" {
		return fmt.Errorf("go build %s: %w: %s", what, err, out)
	}
	return fmt.Errorf("go build %s: %w", what, err)
}
