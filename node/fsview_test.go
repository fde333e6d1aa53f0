package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/nsutil"
)

// machinePaths are upstream's hard-coded node paths, which a lab must never
// write on the machine itself.
var machinePaths = []string{AWSNodeRunDir, AWSNodeLogDir, "/etc/cni", "/opt/cni"}

// existing reports which of paths exist on the machine now.
func existing(paths []string) map[string]bool {
	out := map[string]bool{}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			out[p] = true
		}
	}
	return out
}

// TestPluginExecSeesTheNodeAtUpstreamPaths runs a stand-in plugin through
// the runner's exec hook: it must find the node's directory at
// /var/run/aws-node and /var/log/aws-routed-eni (where upstream's
// cmd/routed-eni-cni-plugin dials ipamdSocketPath and logs), start in the
// node's network namespace, and leave the machine's own paths as they were.
func TestPluginExecSeesTheNodeAtUpstreamPaths(t *testing.T) {
	needRoot(t)
	before := existing(machinePaths)
	name := testPrefix(t, "fsv")
	_ = nsutil.DeleteNamed(name)
	nsPath, err := nsutil.NewNamed(name)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, nsutil.DeleteNamed(name)) })
	var st unix.Stat_t
	require.NoError(t, unix.Stat(nsPath, &st))

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "marker"), []byte("node-dir"), 0o644))
	script := filepath.Join(t.TempDir(), "aws-cni")
	require.NoError(t, os.WriteFile(script, []byte(`#!/bin/sh
cat /var/run/aws-node/marker; echo
cat /var/log/aws-routed-eni/marker; echo
readlink /proc/self/ns/net
echo written > /var/log/aws-routed-eni/plugin.log
`), 0o755))

	e := &nodeExec{netns: nsPath, binds: []bindMount{{AWSNodeRunDir, dir}, {AWSNodeLogDir, dir}}}
	out, err := e.ExecPlugin(context.Background(), script, nil, os.Environ())
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 3, "plugin output: %s", out)
	assert.Equal(t, "node-dir", lines[0], "the node's directory at %s", AWSNodeRunDir)
	assert.Equal(t, "node-dir", lines[1], "the node's directory at %s", AWSNodeLogDir)
	assert.Equal(t, fmt.Sprintf("net:[%d]", st.Ino), lines[2], "the plugin starts in the node's network namespace")
	log, err := os.ReadFile(filepath.Join(dir, "plugin.log"))
	require.NoError(t, err)
	assert.Equal(t, "written\n", string(log), "the plugin's log lands in the node's directory")
	assert.Equal(t, before, existing(machinePaths), "the machine's own paths changed")
}

// TestNodePluginIsSwapped: a node's runner executes the node's own plugin
// link, which Node.SetPluginPath replaces for the next CNI call.
func TestNodePluginIsSwapped(t *testing.T) {
	needRoot(t)
	l := fabricLab(t, "swp", 0, nil)
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "m5.large"})
	require.NoError(t, err)
	own := n.PluginPath()
	assert.Equal(t, l.plugin, own, "a node without its own plugin runs the lab's")

	other := filepath.Join(t.TempDir(), "other-cni")
	require.NoError(t, os.Symlink(own, other))
	abs, err := filepath.Abs(other)
	require.NoError(t, err)
	require.NoError(t, n.SetPluginPath(context.Background(), other))
	target, err := os.Readlink(filepath.Join(n.binDir, "aws-cni"))
	require.NoError(t, err)
	assert.Equal(t, abs, target)

	err = n.SetPluginPath(context.Background(), t.TempDir())
	assert.ErrorContains(t, err, "not an executable file")
	require.NoError(t, n.SetPluginPath(context.Background(), ""))
	assert.Equal(t, own, n.PluginPath(), "\"\" goes back to the lab's plugin")
}

// TestKeptViewSeesWhatIsMadeAfterIt: a node's plugin executions share one
// filesystem view, made at the first; a pod's network namespace made after
// it (the runtime's next sandbox) and a file the node writes later must be
// there for the next execution, as a fresh view per execution had them,
// and the plugin starts in the runner's working directory.
func TestKeptViewSeesWhatIsMadeAfterIt(t *testing.T) {
	needRoot(t)
	name := testPrefix(t, "kv")
	_ = nsutil.DeleteNamed(name)
	nsPath, err := nsutil.NewNamed(name)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, nsutil.DeleteNamed(name)) })
	dir := t.TempDir()
	script := filepath.Join(t.TempDir(), "aws-cni")
	require.NoError(t, os.WriteFile(script, []byte(`#!/bin/sh
pwd
for p in $CHECK; do if [ -e "$p" ]; then echo "$p"; fi; done
`), 0o755))
	view := &mountView{}
	defer view.close()
	e := &nodeExec{netns: nsPath, binds: []bindMount{{AWSNodeRunDir, dir}, {AWSNodeLogDir, dir}}, view: view}
	run := func(paths ...string) []string {
		t.Helper()
		out, err := e.ExecPlugin(context.Background(), script, nil, []string{"CHECK=" + strings.Join(paths, " ")})
		require.NoError(t, err)
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	cwd, err := os.Getwd()
	require.NoError(t, err)
	assert.Equal(t, []string{cwd}, run(), "the view is made")
	first, err := view.get(e.binds)
	require.NoError(t, err)

	pod := testPrefix(t, "kvp")
	_ = nsutil.DeleteNamed(pod)
	podPath, err := nsutil.NewNamed(pod)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, nsutil.DeleteNamed(pod)) })
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ipamd.sock"), nil, 0o644))
	assert.Equal(t, []string{cwd, podPath, AWSNodeRunDir + "/ipamd.sock"}, run(podPath, AWSNodeRunDir+"/ipamd.sock"),
		"a namespace and a node file made after the view are in it")
	again, err := view.get(e.binds)
	require.NoError(t, err)
	assert.Equal(t, first, again, "one view for every execution")

	require.NoError(t, nsutil.DeleteNamed(pod))
	assert.Equal(t, []string{cwd}, run(podPath), "a removed namespace is gone from the view too")
}
