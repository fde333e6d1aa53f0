package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"

	"github.com/enilab/enilab/cniplugin"
)

// pluginProbeTimeout bounds the VERSION call that checks the plugin at lab
// start: a binary that does not serve it (a test binary without
// RunIfPlugin) runs its own tests instead, which the guard below makes fail
// fast, but a slow one must not hold the lab up for long.
const pluginProbeTimeout = 30 * time.Second

// refuseInsidePlugin stops a lab from being built by a process that a CNI
// runtime executed as the plugin. That happens when a lab re-executes its own
// binary (LabConfig.PluginPath "") and the binary's main or TestMain forgot
// cniplugin.RunIfPlugin: the binary would run its tests again, build labs
// again, and re-execute itself without end. CNI_COMMAND, which every CNI
// runtime sets, and the argv0 aws-cni are the markers.
func refuseInsidePlugin(argv0 string, getenv func(string) string) error {
	cmd := getenv("CNI_COMMAND")
	if cmd == "" && !cniplugin.IsPluginExec(argv0) {
		return nil
	}
	return fmt.Errorf("node: this process was executed as the aws-cni plugin (argv0 %q, CNI_COMMAND=%q) "+
		"but did not serve it: its main or TestMain must call cniplugin.RunIfPlugin() first; "+
		"refusing to build a lab, which would execute the binary again", filepath.Base(argv0), cmd)
}

// preparePlugin links the aws-cni plugin into the lab's bin directory and
// checks that it answers VERSION, so a missing plugin entry point fails the
// lab at once with a clear message rather than every pod later.
func (l *Lab) preparePlugin(ctx context.Context) error {
	l.binDir = filepath.Join(l.dir, "bin")
	if err := os.MkdirAll(l.binDir, 0o755); err != nil {
		return fmt.Errorf("node: plugin dir: %w", err)
	}
	target := l.cfg.PluginPath
	if target == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("node: find own executable for the aws-cni plugin: %w", err)
		}
		target = exe
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		return fmt.Errorf("node: plugin path: %w", err)
	}
	link := filepath.Join(l.binDir, cniplugin.ExecName)
	if err := os.Symlink(abs, link); err != nil {
		return fmt.Errorf("node: plugin link: %w", err)
	}
	return probePlugin(ctx, link, abs)
}

// probePlugin runs the plugin's VERSION command through libcni's invoke
// package, as a runtime would.
func probePlugin(ctx context.Context, link, target string) error {
	ctx, cancel := context.WithTimeout(ctx, pluginProbeTimeout)
	defer cancel()
	info, err := invoke.GetVersionInfo(ctx, link, nil)
	if err == nil && len(info.SupportedVersions()) > 0 {
		return nil
	}
	if err == nil {
		err = errors.New("it lists no CNI versions")
	}
	return fmt.Errorf("node: %s does not answer the CNI VERSION command when executed as %s (%v); "+
		"a binary that a lab re-executes as the plugin must call cniplugin.RunIfPlugin() first thing "+
		"in its main or TestMain, or set pluginPath to an aws-cni binary", target, cniplugin.ExecName, err)
}
