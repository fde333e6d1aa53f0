package netsetup

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/nsutil"
)

// egressLab is a node namespace whose eth0 (primary ENI, 10.0.0.10) leads
// to an "outside" namespace holding 203.0.113.10 that knows only the
// primary address (10.0.0.10/32), a secondary ENI eth1 (10.0.0.20) whose
// gateway never answers, and a pod at 10.0.0.50 on that secondary ENI,
// wired as upstream's plugin wires it (to-pod rule 512, from-pod rule 1536
// to the ENI's table 2). Everything goes when the test ends.
type egressLab struct {
	node, pod, outside string // namespace names
	nodePath           string
}

func newEgressLab(t *testing.T) egressLab {
	t.Helper()
	if !nsutil.IsRoot() {
		t.Skip("needs root: creates network namespaces")
	}
	requireIPTables(t)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	base := "enlt-snat-eg" + hex.EncodeToString(b)
	l := egressLab{node: base + "-n", pod: base + "-p", outside: base + "-o"}
	for _, n := range []string{l.node, l.pod, l.outside} {
		p, err := nsutil.NewNamed(n)
		require.NoError(t, err)
		t.Cleanup(func() { _ = nsutil.DeleteNamed(n) })
		if n == l.node {
			l.nodePath = p
		}
	}
	for _, c := range [][]string{
		{l.node, "ip", "link", "add", "eth0", "address", "02:aa:00:00:05:00", "type", "veth", "peer", "out0", "netns", l.outside},
		{l.node, "ip", "link", "add", "eth1", "address", "02:aa:00:00:05:01", "type", "veth", "peer", "dead1"},
		{l.node, "ip", "link", "add", "enisnat00001", "type", "veth", "peer", "eth0", "netns", l.pod},
		{l.node, "ip", "addr", "add", "10.0.0.10/24", "dev", "eth0"},
		{l.node, "ip", "link", "set", "eth0", "up"},
		{l.node, "ip", "link", "set", "enisnat00001", "up"},
		{l.node, "ip", "route", "add", "default", "via", "10.0.0.1", "dev", "eth0"},
		{l.node, "ip", "route", "add", "10.0.0.50/32", "dev", "enisnat00001", "scope", "link"},
		{l.node, "ip", "rule", "add", "to", "10.0.0.50", "lookup", "main", "priority", "512"},
		{l.node, "ip", "rule", "add", "from", "10.0.0.50", "lookup", "2", "priority", "1536"},
		{l.node, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{l.pod, "ip", "addr", "add", "10.0.0.50/32", "dev", "eth0"},
		{l.pod, "ip", "link", "set", "eth0", "up"},
		{l.pod, "ip", "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link"},
		{l.pod, "ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0"},
		{l.outside, "ip", "addr", "add", "10.0.0.1/32", "dev", "out0"},
		{l.outside, "ip", "addr", "add", "203.0.113.10/32", "dev", "lo"},
		{l.outside, "ip", "link", "set", "out0", "up"},
		{l.outside, "ip", "link", "set", "lo", "up"},
		{l.outside, "ip", "route", "add", "10.0.0.10/32", "dev", "out0"},
	} {
		l.run(t, c[0], c[1:]...)
	}
	mac := strings.Fields(l.run(t, l.node, "cat", "/sys/class/net/enisnat00001/address"))[0]
	l.run(t, l.pod, "ip", "neigh", "add", "169.254.1.1", "lladdr", mac, "dev", "eth0", "nud", "permanent")
	require.NoError(t, SetupENI(l.nodePath, ENI{MAC: "02:aa:00:00:05:01", PrimaryIP: netip.MustParseAddr("10.0.0.20"),
		SubnetCIDR: netip.MustParsePrefix("10.0.0.0/24"), DeviceNumber: 1}))
	return l
}

func (l egressLab) run(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	require.NoError(t, err, "%s: %v: %s", ns, args, out)
	return string(out)
}

// ping reports whether the pod reaches 203.0.113.10 (one echo, 1 s).
func (l egressLab) ping() bool {
	return exec.Command("ip", "netns", "exec", l.pod, "ping", "-c1", "-W1", "203.0.113.10").Run() == nil
}

func (l egressLab) setup(t *testing.T, s SNAT) {
	t.Helper()
	require.NoError(t, SetupHost(l.nodePath, Host{PrimaryMAC: "02:aa:00:00:05:00", PrimaryIP: netip.MustParseAddr("10.0.0.10"),
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, SNAT: s}))
}

// What upstream's rules are for (SetupHostNetwork, buildIptablesSNATRules,
// iptablesConnmark.Setup): a pod on a secondary ENI reaches an address
// outside the VPC through the primary ENI, as the primary address — the
// connection's mark (AWS-CONNMARK-CHAIN-0, restored to the packet) sends
// it to main by the fwmark rule, and AWS-SNAT-CHAIN-0 rewrites its
// source. With external SNAT neither happens: the pod's traffic takes its
// ENI's table, where only a NAT gateway would help (here none answers).
func TestSecondaryENIPodEgressesAsPrimaryAddressAsUpstream(t *testing.T) {
	l := newEgressLab(t)
	l.setup(t, SNAT{NodePortSupport: true})
	assert.True(t, l.ping(), "SNAT on: the pod reaches 203.0.113.10 through eth0 as 10.0.0.10")
	conntrack := l.run(t, l.node, "cat", "/proc/net/nf_conntrack")
	assert.Contains(t, conntrack, "src=10.0.0.50 dst=203.0.113.10", "the pod's connection")
	assert.Contains(t, conntrack, "src=203.0.113.10 dst=10.0.0.10", "answered to the primary address")
	assert.Contains(t, conntrack, "mark=128", "marked 0x80")

	l.setup(t, SNAT{External: true, NodePortSupport: true})
	assert.False(t, l.ping(), "external SNAT: the pod's traffic leaves by eth1, whose gateway does not answer")
	l.setup(t, SNAT{NodePortSupport: true})
	assert.True(t, l.ping(), "SNAT back on")
}
