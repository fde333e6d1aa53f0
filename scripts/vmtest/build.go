package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const (
	modulePath  = "github.com/enilab/enilab"
	ginkgoPkg   = "github.com/onsi/ginkgo/v2"
	nodePkg     = modulePath + "/node"
	backendEnv  = "ENILAB_ENI_BACKEND"
	guestSrc    = "/src"           // the repository inside the VM
	guestTests  = "/opt/enilab"    // test binaries inside the VM
	guestBinDir = "/usr/local/bin" // helper binaries inside the VM
)

// TestPkg is a package whose privileged tests run in the VM.
type TestPkg struct {
	Arg        string // as given: "./e2e"
	ImportPath string
	Dir        string // relative to the repository
	Ginkgo     bool   // links ginkgo: takes -ginkgo.* flags and writes a JUnit report
	UsesNode   bool   // links the node package: honours ENILAB_ENI_BACKEND, so it runs once per backend
	NoTests    bool
	Binary     string // host path of the built test binary
	BuildErr   string // compiler output when the build failed
}

// Builder builds static linux/amd64 binaries with the host's go.
type Builder struct {
	Go      string // default "go"
	RepoDir string
	OutDir  string
}

func (b *Builder) env() []string {
	return append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
}

func (b *Builder) goCmd(ctx context.Context, args ...string) *exec.Cmd {
	g := b.Go
	if g == "" {
		g = "go"
	}
	cmd := exec.CommandContext(ctx, g, args...)
	cmd.Dir = b.RepoDir
	cmd.Env = b.env()
	return cmd
}

type listedPkg struct {
	ImportPath   string
	Dir          string
	TestGoFiles  []string
	XTestGoFiles []string
	Error        *struct{ Err string }
}

// Inspect finds out what kind of test package arg is. A package that does
// not load (missing, or broken imports) comes back with BuildErr set.
func (b *Builder) Inspect(ctx context.Context, arg string) TestPkg {
	p := TestPkg{Arg: arg}
	out, err := b.goCmd(ctx, "list", "-e", "-json=ImportPath,Dir,TestGoFiles,XTestGoFiles,Error", arg).Output()
	if err != nil {
		p.BuildErr = fmt.Sprintf("go list %s: %v %s", arg, err, stderrOf(err))
		return p
	}
	var lp listedPkg
	if err := json.Unmarshal(out, &lp); err != nil {
		p.BuildErr = fmt.Sprintf("go list %s: %v", arg, err)
		return p
	}
	p.ImportPath = lp.ImportPath
	if rel, err := filepath.Rel(b.RepoDir, lp.Dir); err == nil {
		p.Dir = filepath.ToSlash(rel)
	}
	if lp.Error != nil {
		p.BuildErr = lp.Error.Err
		return p
	}
	if len(lp.TestGoFiles)+len(lp.XTestGoFiles) == 0 {
		p.NoTests = true
		return p
	}
	deps, err := b.goCmd(ctx, "list", "-e", "-test", "-deps", "-f", "{{.ImportPath}}", arg).Output()
	if err != nil {
		p.BuildErr = fmt.Sprintf("go list -deps %s: %v %s", arg, err, stderrOf(err))
		return p
	}
	for _, d := range strings.Fields(string(deps)) {
		switch d {
		case ginkgoPkg:
			p.Ginkgo = true
		case nodePkg:
			p.UsesNode = true
		}
	}
	return p
}

// BuildTest compiles the package's test binary (go test -c) into OutDir.
func (b *Builder) BuildTest(ctx context.Context, p *TestPkg) {
	name := strings.ReplaceAll(strings.Trim(p.Dir, "/"), "/", "-")
	if name == "" || name == "." {
		name = "root"
	}
	p.Binary = filepath.Join(b.OutDir, name+".test")
	var stderr bytes.Buffer
	cmd := b.goCmd(ctx, "test", "-c", "-ldflags=-s -w", "-o", p.Binary, p.Arg)
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		p.BuildErr = strings.TrimSpace(stderr.String())
		if p.BuildErr == "" {
			p.BuildErr = err.Error()
		}
		p.Binary = ""
		return
	}
	if _, err := os.Stat(p.Binary); err != nil {
		p.NoTests = true
		p.Binary = ""
	}
}

// BuildHelper compiles a main package (the CNI plugin, cnitool) into OutDir
// under name: a package of this module with go build, a pkg@version with
// go install (outside the module, as scripts/setup.sh installs it). Helpers
// are optional: an error here only means the tests that need it skip.
func (b *Builder) BuildHelper(ctx context.Context, pkg, name string) (string, error) {
	dir := filepath.Join(b.OutDir, "helpers")
	out := filepath.Join(dir, name)
	var stderr bytes.Buffer
	var cmd *exec.Cmd
	if strings.Contains(pkg, "@") {
		gobin, err := os.MkdirTemp(b.OutDir, "gobin-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(gobin)
		cmd = b.goCmd(ctx, "install", "-ldflags=-s -w", pkg)
		cmd.Dir = gobin
		cmd.Env = append(cmd.Env, "GOBIN="+gobin, "GOFLAGS=")
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("go install %s: %s", pkg, strings.TrimSpace(stderr.String()))
		}
		base := strings.TrimSuffix(filepath.Base(pkg), "@"+strings.SplitN(pkg, "@", 2)[1])
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if err := os.Rename(filepath.Join(gobin, base), out); err != nil {
			return "", fmt.Errorf("go install %s: %w", pkg, err)
		}
		return out, nil
	}
	cmd = b.goCmd(ctx, "build", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %s", pkg, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}
