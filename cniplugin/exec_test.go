package cniplugin

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
)

// pluginPath is a symlink named aws-cni to the test binary.
func pluginPath(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), ExecName)
	require.NoError(t, os.Symlink(self, p))
	return p
}

// TestExecBadConfigs runs the real binary the way a runtime does, with
// configurations a person gets wrong, and checks the CNI error it prints.
func TestExecBadConfigs(t *testing.T) {
	plugin := pluginPath(t)
	args := &invoke.Args{Command: "ADD", ContainerID: "c1", NetNS: "/proc/self/ns/net", IfName: "eth0",
		PluginArgsStr: "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p", Path: filepath.Dir(plugin)}
	for _, tc := range []struct {
		name, conf string
		code       uint
		want       string
	}{
		{"invalid JSON", `{"cniVersion":"1.1.0","name":"n","type":"aws-cni"`, types.ErrInvalidNetworkConfig, "network configuration is not valid JSON"},
		{"bad MTU", `{"cniVersion":"1.1.0","name":"n","type":"aws-cni","mtu":"100000"}`, types.ErrInvalidNetworkConfig, `"mtu" 100000 is outside 576..9001`},
		{"unknown version", `{"cniVersion":"7.0.0","name":"n","type":"aws-cni"}`, types.ErrIncompatibleCNIVersion, `unsupported cniVersion "7.0.0": this plugin supports 0.4.0, 1.0.0, 1.1.0`},
		{"long prefix", `{"cniVersion":"1.0.0","name":"n","type":"aws-cni","vethPrefix":"podveth"}`, types.ErrInvalidNetworkConfig, "longer than 4 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := invoke.ExecPluginWithResult(context.Background(), plugin, []byte(tc.conf), args, nil)
			require.Error(t, err)
			e, ok := err.(*types.Error)
			require.True(t, ok, "CNI error JSON, got %T %v", err, err)
			assert.Equal(t, tc.code, e.Code)
			assert.Contains(t, e.Msg, tc.want)
		})
	}

	// VERSION lists exactly the supported versions.
	info, err := invoke.GetVersionInfo(context.Background(), plugin, nil)
	require.NoError(t, err)
	assert.Equal(t, SupportedVersions, info.SupportedVersions())
}

// findCnitool locates cnitool as TEAM.md says: $ENILAB_CNITOOL, then
// <repo>/bin/cnitool, then PATH.
func findCnitool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ENILAB_CNITOOL"); p != "" {
		return p
	}
	if p, err := filepath.Abs(filepath.Join("..", "bin", "cnitool")); err == nil { // tests run in the package dir
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("cnitool"); err == nil {
		return p
	}
	t.Skip("cnitool not found: run `make setup` (installs bin/cnitool) or set ENILAB_CNITOOL")
	return ""
}

// TestCnitool drives the plugin with the upstream cnitool, run inside the
// node namespace, against the real ipamd: add pods until one sits on a
// secondary ENI, check them, check after that pod's 1536 rule is gone, del.
func TestCnitool(t *testing.T) {
	needRoot(t)
	cnitool := findCnitool(t)
	n := newIPAMDNode(t, "t3.medium", map[string]string{"WARM_IP_TARGET": "8", "IP_COOLDOWN_PERIOD": "0"})
	waitFor(t, "a second ENI and 8 warm IPs", func() bool { st := n.d.Status(); return st.ENIs >= 2 && st.WarmIPs >= 8 })
	confDir := filepath.Join(n.dir, "net.d")
	require.NoError(t, os.MkdirAll(confDir, 0o755))
	conf := `{"cniVersion":"1.1.0","name":"` + n.network + `","plugins":[{"type":"aws-cni","mtu":"9001","vethPrefix":"eni","ipamdSocket":"` +
		n.socket + `","stateDir":"` + n.stateDir + `"}]}`
	require.NoError(t, os.WriteFile(filepath.Join(confDir, "10-aws.conflist"), []byte(conf), 0o644))
	// cnitool keeps its results in libcni's default cache; remove ours.
	t.Cleanup(func() {
		matches, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", n.network+"-*"))
		for _, m := range matches {
			os.Remove(m)
		}
	})

	cnitoolRun := func(pod string, args ...string) (string, error) {
		var out []byte
		var err error
		require.NoError(t, n.inNode(func() error {
			cmd := exec.Command(cnitool, args...)
			cmd.Env = append(os.Environ(), "NETCONFPATH="+confDir, "CNI_PATH="+n.binDir,
				"CNI_ARGS=K8S_POD_NAMESPACE=default;K8S_POD_NAME="+pod+";K8S_POD_UID=u-"+pod)
			out, err = cmd.CombinedOutput()
			return nil
		}))
		return string(out), err
	}

	type podRun struct {
		name, path string
		ip         netip.Addr
		device     int
	}
	var pods []podRun
	var secondary *podRun
	for i := 0; i < 8 && secondary == nil; i++ {
		pod, podPath := n.newPod(t)
		out, err := cnitoolRun(pod, "add", n.network, podPath)
		require.NoError(t, err, out)
		res, err := types100.NewResult([]byte(out[strings.Index(out, "{"):]))
		require.NoError(t, err, out)
		r, _ := types100.GetResult(res)
		ip, _ := netip.AddrFromSlice(r.IPs[0].Address.IP.To4())
		pods = append(pods, podRun{pod, podPath, ip, n.deviceOf(ip)})
		if pods[len(pods)-1].device > 0 {
			secondary = &pods[len(pods)-1]
		}
	}
	require.NotNil(t, secondary, "a pod got a secondary-ENI address")
	for _, p := range pods {
		n.assertWired(t, p.path, p.name, p.ip, datapath.ENITable(p.device), 9001)
		require.NoError(t, ping(n.ns, p.ip), "the node reaches %s over its host route", p.name)
		out, err := cnitoolRun(p.name, "check", n.network, p.path)
		require.NoError(t, err, out)
	}

	require.NoError(t, n.h.RuleDel(kernel.FromPodRule(secondary.ip, datapath.ENITable(secondary.device))))
	out, err := cnitoolRun(secondary.name, "check", n.network, secondary.path)
	require.Error(t, err)
	assert.Contains(t, out, `rule "from `+secondary.ip.String()+` lookup `+itoa(secondary.device+1)+`" (priority 1536) is missing`)

	for _, p := range pods {
		out, err := cnitoolRun(p.name, "del", n.network, p.path)
		require.NoError(t, err, out)
		n.assertTornDown(t, p.path, p.name, p.ip)
	}
	assert.Zero(t, n.d.Status().AssignedIPs, "ipamd holds no address")
}
