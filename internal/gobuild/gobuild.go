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
)

// Tags are the build tags of every command; the Makefile's BUILD_TAGS.
const Tags = "grpcnotrace"

// cgoOff is added to the go tool's environment; the Makefile's BUILD_ENV.
const cgoOff = "CGO_ENABLED=0"

// Command builds the main package pkg (as go build names it, relative to
// the working directory) into the file out.
func Command(out, pkg string) error {
	cmd := exec.Command("go", "build", "-tags", Tags, "-o", out, pkg)
	cmd.Env = append(os.Environ(), cgoOff)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, strings.TrimSpace(string(b)))
	}
	return nil
}
