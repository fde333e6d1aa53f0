package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"

	"github.com/enilab/enilab/cniplugin"
	egresscni "github.com/enilab/enilab/cniplugin/egress"
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
		"but did not serve it: its main or TestMain must call multicall.RunIfPlugin() first; "+
		"refusing to build a lab, which would execute the binary again", filepath.Base(argv0), cmd)
}

// preparePlugin resolves the lab's aws-cni plugin and checks that it
// answers VERSION, so a missing plugin entry point fails the lab at once
// with a clear message rather than every pod later. It also resolves the
// lab's own egress-cni, once for every node that links it.
func (l *Lab) preparePlugin(ctx context.Context) error {
	target, err := pluginTarget(l.cfg.PluginPath)
	if err != nil {
		return err
	}
	egress, err := ownPlugin(egresscni.ExecName)
	if err != nil {
		return err
	}
	if err := probed.check(ctx, l.dir, target); err != nil {
		return err
	}
	l.plugin, l.ownEgress = target, egress
	return nil
}

// probed remembers the binaries that answered the probe in this process,
// by path and file identity (device, inode, size, modification time): a
// test binary that builds a lab per test execs its VERSION once, not per
// lab (an exec of a test binary costs 10–40 ms). A binary replaced since
// is probed again; a refusal is never remembered.
var probed probeCache

type probeCache struct {
	mu sync.Mutex
	ok map[string]os.FileInfo
}

func (c *probeCache) check(ctx context.Context, dir, target string) error {
	st, statErr := os.Stat(target)
	c.mu.Lock()
	prev, seen := c.ok[target]
	c.mu.Unlock()
	if statErr == nil && seen && os.SameFile(prev, st) && prev.Size() == st.Size() && prev.ModTime().Equal(st.ModTime()) {
		return nil
	}
	if err := probePlugin(ctx, dir, target); err != nil {
		return err
	}
	if statErr == nil {
		c.mu.Lock()
		if c.ok == nil {
			c.ok = map[string]os.FileInfo{}
		}
		c.ok[target] = st
		c.mu.Unlock()
	}
	return nil
}

// pluginTarget is the absolute path of the plugin binary; "" is the lab's
// own aws-cni (ownPlugin).
func pluginTarget(path string) (string, error) {
	if path == "" {
		var err error
		if path, err = OwnPlugin(); err != nil {
			return "", err
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("node: plugin path: %w", err)
	}
	return abs, nil
}

// preparePlugin links the node's plugin (its spec's, else the lab's) into
// the node's bin directory, where the node's runner finds it as aws-cni.
func (n *Node) preparePlugin(ctx context.Context) error {
	n.binDir = filepath.Join(n.dir, "bin")
	if err := os.MkdirAll(n.binDir, 0o755); err != nil {
		return fmt.Errorf("node: %s: plugin dir: %w", n.name, err)
	}
	if err := n.linkEgressPlugin(); err != nil {
		return err
	}
	if n.spec.PluginPath == "" {
		return n.linkPlugin(n.lab.plugin)
	}
	return n.SetPluginPath(ctx, n.spec.PluginPath)
}

// SetPluginPath makes path the node's aws-cni plugin from the next CNI call
// on (as replacing /opt/cni/bin/aws-cni on an instance does); "" is the
// lab's plugin. The binary must answer VERSION.
func (n *Node) SetPluginPath(ctx context.Context, path string) error {
	target := n.lab.plugin
	if path != "" {
		if err := checkExecutable(path); err != nil {
			return fmt.Errorf("node: %s: %w", n.name, err)
		}
		var err error
		if target, err = pluginTarget(path); err != nil {
			return err
		}
		if err := probePlugin(ctx, n.dir, target); err != nil {
			return err
		}
	}
	return n.linkPlugin(target)
}

// linkPlugin points the node's bin/aws-cni at target, replacing any link
// atomically so a CNI call in flight runs one plugin or the other.
func (n *Node) linkPlugin(target string) error {
	link := filepath.Join(n.binDir, cniplugin.ExecName)
	tmp := link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("node: %s: plugin link: %w", n.name, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("node: %s: plugin link: %w", n.name, err)
	}
	n.mu.Lock()
	n.plugin = target
	n.mu.Unlock()
	return nil
}

// PluginPath is the binary the node's runner executes as aws-cni.
func (n *Node) PluginPath() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.plugin
}

// checkExecutable is the check of a plugin path before it is used.
func checkExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s: not an executable file", path)
	}
	return nil
}

// probePlugin runs the plugin's VERSION command through libcni's invoke
// package, as a runtime would, under the name aws-cni (a link in dir).
func probePlugin(ctx context.Context, dir, target string) error {
	ctx, cancel := context.WithTimeout(ctx, pluginProbeTimeout)
	defer cancel()
	probe, err := os.MkdirTemp(dir, "probe-")
	if err != nil {
		return fmt.Errorf("node: plugin probe: %w", err)
	}
	defer os.RemoveAll(probe)
	link := filepath.Join(probe, cniplugin.ExecName)
	if err := os.Symlink(target, link); err != nil {
		return fmt.Errorf("node: plugin probe: %w", err)
	}
	info, err := invoke.GetVersionInfo(ctx, link, nil)
	if err == nil && len(info.SupportedVersions()) > 0 {
		return nil
	}
	if err == nil {
		err = errors.New("it lists no CNI versions")
	}
	return fmt.Errorf("node: %s does not answer the CNI VERSION command when executed as %s (%v); "+
		"a binary that a lab re-executes as the plugin must call multicall.RunIfPlugin() first thing "+
		"in its main or TestMain, or set pluginPath to an aws-cni binary", target, cniplugin.ExecName, err)
}
