package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/nsutil"
)

func TestRefuseInsidePlugin(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	assert.NoError(t, refuseInsidePlugin("/tmp/node.test", env(nil)))

	err := refuseInsidePlugin("/tmp/node.test", env(map[string]string{"CNI_COMMAND": "ADD"}))
	require.Error(t, err)
	assert.ErrorContains(t, err, `CNI_COMMAND="ADD"`)
	assert.ErrorContains(t, err, "multicall.RunIfPlugin()")

	assert.ErrorContains(t, refuseInsidePlugin("/lab/bin/aws-cni", env(nil)), `argv0 "aws-cni"`)
}

// A lab whose plugin does not answer VERSION fails at lab start, naming the
// binary and the fix.
func TestLabRefusesAPluginThatDoesNotAnswer(t *testing.T) {
	if !nsutil.IsRoot() {
		t.Skip("a lab needs root")
	}
	_, err := NewLab(context.Background(), LabConfig{
		Prefix:     "enlt-node-probe",
		PluginPath: "/bin/true",
		Subnets:    []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"}},
	})
	require.Error(t, err)
	assert.ErrorContains(t, err, "/bin/true does not answer the CNI VERSION command")
}

// The new user's mistake: a test binary that builds labs without calling
// cniplugin.RunIfPlugin in TestMain. Before the guard it re-executed itself
// for every pod, each copy building labs of its own; now the lab fails at
// once and the re-executed copy refuses to build one.
func TestTestBinaryWithoutRunIfPluginFailsAtOnce(t *testing.T) {
	if !nsutil.IsRoot() {
		t.Skip("a lab needs root")
	}
	if testing.Short() {
		t.Skip("compiles a test binary")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("compiles a test binary and the go tool is not in PATH (the VM runner has none; the host run covers this)")
	}
	bin := filepath.Join(t.TempDir(), "norunifplugin.test")
	build := exec.Command("go", "test", "-c", "-o", bin, "./testdata/norunifplugin")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	run := exec.Command(bin, "-test.v")
	// Its labs re-execute it, as this TestMain's built plugins are not its.
	run.Env = append(os.Environ(), "TMPDIR="+t.TempDir(), PluginDirEnv+"=")
	out, err = run.CombinedOutput()
	require.Error(t, err, "%s", out)
	assert.Contains(t, string(out), "does not answer the CNI VERSION command when executed as aws-cni")
	assert.Contains(t, string(out), "must call multicall.RunIfPlugin() first thing")
	// The re-executed copy's own refusal, quoted in the error: without the
	// guard it would have built a lab and probed itself again.
	assert.Contains(t, string(out), "refusing to build a lab")
}

// The probe runs once per binary in a process: a second lab with the same
// plugin does not exec it again, a binary replaced since is probed again,
// and a refusal is never remembered.
func TestPluginProbeOncePerBinary(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "execs")
	plugin := filepath.Join(dir, "plugin")
	answers := func(body string) {
		// A new file each time, as a rebuild writes one.
		tmp := plugin + ".new"
		require.NoError(t, os.WriteFile(tmp, []byte("#!/bin/sh\necho x >> "+count+"\n"+body+"\n"), 0o755))
		require.NoError(t, os.Rename(tmp, plugin))
	}
	execs := func() int {
		b, _ := os.ReadFile(count)
		return len(b) / 2
	}
	var c probeCache
	answers(`echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}'`)
	require.NoError(t, c.check(context.Background(), dir, plugin))
	require.NoError(t, c.check(context.Background(), dir, plugin))
	assert.Equal(t, 1, execs(), "the second lab trusts the first probe")

	answers("exit 1")
	require.Error(t, c.check(context.Background(), dir, plugin), "a replaced binary is probed again")
	require.Error(t, c.check(context.Background(), dir, plugin))
	assert.Equal(t, 3, execs(), "a refusal is not remembered")
}

// ownPlugin takes the lab's own plugins from PluginDirEnv's directory when
// that is set, names the variable when the plugin is not there, and falls
// back to the running (unstamped) test binary when it is empty.
func TestOwnPluginFromPluginDir(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "aws-cni")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	t.Setenv(PluginDirEnv, dir)
	p, err := ownPlugin("aws-cni")
	require.NoError(t, err)
	assert.Equal(t, bin, p)
	_, err = ownPlugin("egress-cni")
	assert.ErrorContains(t, err, PluginDirEnv)
	assert.ErrorContains(t, err, filepath.Join(dir, "egress-cni"))

	t.Setenv(PluginDirEnv, "")
	exe, err := os.Executable()
	require.NoError(t, err)
	p, err = ownPlugin("aws-cni")
	require.NoError(t, err)
	assert.Equal(t, exe, p, "no plugin directory and no stamp: the binary itself")
}

// The labs of this test binary run the aws-cni and egress-cni its TestMain
// built (RunWithOwnPlugins), and a pod starts with them; with PluginDirEnv
// empty a lab re-executes the test binary as both, and a pod starts too
// (multicall.RunIfPlugin).
func TestLabRunsOwnPluginsElseItsBinary(t *testing.T) {
	needRoot(t)
	dir := os.Getenv(PluginDirEnv)
	if dir == "" {
		t.Skip("TestMain could not build the lab's own plugins (no go command?); its message is on stderr")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	for _, c := range []struct {
		name, dir, aws, egress string
	}{
		{"built", dir, filepath.Join(dir, "aws-cni"), filepath.Join(dir, "egress-cni")},
		{"reexec", "", exe, exe},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(PluginDirEnv, c.dir)
			l := testLab(t, "own"+c.name[:1], LabConfig{Seed: 7, TimeScale: 0.02,
				Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"}}})
			n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "c5.large"})
			require.NoError(t, err)
			assert.Equal(t, c.aws, n.PluginPath())
			assert.Equal(t, c.egress, l.ownEgress)
			require.NoError(t, n.AddPods(context.Background(), 1))
			require.Eventually(t, func() bool {
				pods := n.Pods()
				return len(pods) == 1 && pods[0].Phase == PhaseReady
			}, 30*time.Second, 20*time.Millisecond, "the pod starts with the %s plugin", c.name)
		})
	}
}

// A test binary killed before it removed its plugin directory leaves it
// for the next buildOwnPlugins to remove; a living process's stays.
func TestSweepPluginDirsOfGoneProcesses(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	dead := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-1", pluginDirPrefix, gone.Process.Pid))
	live := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-2", pluginDirPrefix, os.Getpid()))
	other := filepath.Join(os.TempDir(), pluginDirPrefix+"notapid")
	for _, d := range []string{dead, live, other} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	sweepPluginDirs()
	assert.NoDirExists(t, dead)
	assert.DirExists(t, live)
	assert.DirExists(t, other, "not named by buildOwnPlugins: left alone")
}
