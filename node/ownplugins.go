package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/enilab/enilab/cniplugin"
	"github.com/enilab/enilab/internal/buildstamp"
	"github.com/enilab/enilab/internal/gobuild"
	"github.com/enilab/enilab/internal/nsutil"
)

// PluginDirEnv names a directory holding the lab's own aws-cni and
// egress-cni, built from the lab's own source (buildOwnPlugins), for a
// lab binary with none of its build beside it: a test binary, whose labs
// would otherwise re-execute it at every CNI call.
const PluginDirEnv = "ENILAB_PLUGIN_DIR"

// OwnPlugin is the lab's own aws-cni, what LabConfig.PluginPath "" runs:
// see ownPlugin.
func OwnPlugin() (string, error) { return ownPlugin(cniplugin.ExecName) }

// ownPlugin is the lab's own build of the plugin called name: the binary of
// that name beside the running executable when `make build` built both
// (internal/buildstamp), as a node runs its plugin binaries; else the one
// in PluginDirEnv's directory when that is set; else the running
// executable, which serves the plugin under that name
// (multicall.RunIfPlugin).
func ownPlugin(name string) (string, error) {
	if p, ok := buildstamp.Sibling(name); ok {
		return p, nil
	}
	if dir := os.Getenv(PluginDirEnv); dir != "" {
		p := filepath.Join(dir, name)
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("node: %s: %w", PluginDirEnv, err)
		}
		return p, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("node: find own executable for the %s plugin: %w", name, err)
	}
	return exe, nil
}

// buildOwnPlugins builds the lab's own aws-cni and egress-cni from source
// with the go command, as `make build` does (internal/gobuild), into a new
// temporary directory, and sets PluginDirEnv to it: every lab of this
// process, and of the processes it starts, then runs them. It is
// RunWithOwnPlugins' work for a test binary's TestMain: a test binary
// links the whole lab and starts two to three times slower than aws-cni,
// eight times under -race (docs/performance.md, tenth round), at every
// CNI call of its labs.
//
// It does nothing when PluginDirEnv is already set. When the go command
// cannot build them (as inside the VM runner, which has no Go toolchain)
// it returns the error and the labs re-execute their binary, as before.
// done removes the directory.
func buildOwnPlugins() (done func(), err error) {
	if os.Getenv(PluginDirEnv) != "" {
		return func() {}, nil
	}
	sweepPluginDirs()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", pluginDirPrefix, os.Getpid()))
	if err != nil {
		return func() {}, fmt.Errorf("node: build own plugins: %w", err)
	}
	if err := gobuild.Commands(dir, ownCommands...); err != nil {
		_ = os.RemoveAll(dir)
		return func() {}, fmt.Errorf("node: build own plugins: %w", err)
	}
	if err := os.Setenv(PluginDirEnv, dir); err != nil {
		_ = os.RemoveAll(dir)
		return func() {}, fmt.Errorf("node: build own plugins: %w", err)
	}
	return func() {
		_ = os.Unsetenv(PluginDirEnv)
		_ = os.RemoveAll(dir)
	}, nil
}

// RunWithOwnPlugins runs a test binary's tests (run is its m.Run) with the
// lab's own plugins built (buildOwnPlugins) when the process is root, as
// only root builds labs, and returns run's exit code. When they cannot be
// built it says so on stderr and the labs re-execute the test binary.
func RunWithOwnPlugins(run func() int) int {
	if !nsutil.IsRoot() {
		return run()
	}
	done, err := buildOwnPlugins()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v; labs re-execute this binary as their plugins\n", err)
	}
	defer done()
	return run()
}

// ownCommands are the main packages of the lab's own plugins.
var ownCommands = []string{"github.com/enilab/enilab/cmd/aws-cni", "github.com/enilab/enilab/cmd/egress-cni"}

// pluginDirPrefix starts the name of buildOwnPlugins' directory, followed
// by the process id of the test binary that made it.
const pluginDirPrefix = "enilab-plugins-"

// sweepPluginDirs removes the plugin directories of test binaries that
// are gone without removing theirs (killed, or timed out).
func sweepPluginDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), pluginDirPrefix+"*"))
	for _, d := range dirs {
		pid, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), pluginDirPrefix), "-")
		if n, err := strconv.Atoi(pid); err == nil && syscall.Kill(n, 0) == syscall.ESRCH {
			_ = os.RemoveAll(d)
		}
	}
}
