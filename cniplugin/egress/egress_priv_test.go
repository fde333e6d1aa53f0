package egress

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/internal/nsutil"
)

// privNS makes a named namespace for the test, removed at its end.
func privNS(t *testing.T, name string) string {
	t.Helper()
	name = fmt.Sprintf("enegr-%d-%s", os.Getpid(), name)
	p, err := nsutil.NewNamed(name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nsutil.DeleteNamed(name) })
	return p
}

// natRules lists the node namespace's nat table as iptables -S prints it.
func natRules(t *testing.T, nodeNS string) string {
	t.Helper()
	var out []byte
	require.NoError(t, nsutil.Do(nodeNS, func() error {
		var err error
		out, err = exec.Command("iptables", "-t", "nat", "-S").CombinedOutput()
		return err
	}), "%s", out)
	return string(out)
}

// ADD wires v4if0 and the SNAT chain as upstream's cmdAddEgressV4; a DEL
// after the pod's namespace is gone still gives the address back and
// removes the chain (upstream's cmdDelEgress finds no address then and
// leaves the chain), and a second DEL succeeds.
func TestEgressDelWithoutNamespaceAsUpstreamCmdDelEgress(t *testing.T) {
	if !nsutil.IsRoot() {
		t.Skip("needs root: network namespaces and iptables")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("needs the iptables command (go-iptables runs it), not found")
	}
	nodeNS := privNS(t, "node")
	podNS := privNS(t, "pod")
	dataDir := t.TempDir()
	stdin := conf(func(m map[string]string) {
		m["ipam"] = `{"type": "host-local", "ranges": [[{"subnet": "169.254.172.0/22"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "` + dataDir + `"}`
	})
	args := &skel.CmdArgs{ContainerID: "c0ffee", Netns: podNS, IfName: "eth0", StdinData: stdin}
	stdout := os.Stdout
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer devnull.Close()
	os.Stdout = devnull // the result ADD prints
	err = nsutil.Do(nodeNS, func() error { return cmdAdd(args) })
	os.Stdout = stdout
	require.NoError(t, err)

	store := filepath.Join(dataDir, "aws-cni", "169.254.172.2")
	assert.FileExists(t, store, "host-local's first address, the gateway .1 kept for the host veth")
	h, err := nsutil.Handle(podNS)
	require.NoError(t, err)
	link, err := h.LinkByName(IPv4IfName)
	require.NoError(t, err)
	routes, err := h.RouteList(link, netlink.FAMILY_V4)
	h.Close()
	require.NoError(t, err)
	var got []string
	for _, r := range routes {
		got = append(got, fmt.Sprintf("%v via %v src %v", r.Dst, r.Gw, r.Src))
	}
	assert.ElementsMatch(t, []string{
		"0.0.0.0/0 via 169.254.172.1 src <nil>",
		"169.254.172.1/32 via <nil> src 169.254.172.2",
		"169.254.172.0/22 via 169.254.172.1 src 169.254.172.2",
	}, got)
	nat := natRules(t, nodeNS)
	assert.Contains(t, nat, "-A POSTROUTING -s 169.254.172.2/32")
	assert.Contains(t, nat, "-d 224.0.0.0/4")
	assert.Contains(t, nat, "-j SNAT --to-source 10.0.1.10")

	require.NoError(t, nsutil.DeleteNamed(filepath.Base(podNS)))
	require.NoError(t, nsutil.Do(nodeNS, func() error { return cmdDel(args) }))
	assert.NoFileExists(t, store, "DEL gives the address back")
	assert.NotContains(t, natRules(t, nodeNS), "CNI-E4-", "DEL removes the chain without the pod's namespace")
	assert.NoError(t, nsutil.Do(nodeNS, func() error { return cmdDel(args) }), "a second DEL succeeds")
}
