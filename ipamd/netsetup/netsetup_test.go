package netsetup

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
)

func TestENIValidate(t *testing.T) {
	err := ENI{MAC: "zz", PrimaryIP: netip.MustParseAddr("10.0.2.5"), SubnetCIDR: netip.MustParsePrefix("10.0.1.0/24"), MTU: 20}.Validate()
	require.Error(t, err)
	for _, want := range []string{"MAC", "outside subnet", "device number 0", "MTU 20"} {
		assert.Contains(t, err.Error(), want)
	}
	good := ENI{MAC: "02:00:00:00:01:01", PrimaryIP: netip.MustParseAddr("10.0.1.20"), SubnetCIDR: netip.MustParsePrefix("10.0.1.0/24"), DeviceNumber: 2}
	require.NoError(t, good.Validate())
	assert.Equal(t, 3, good.Table())
	assert.Equal(t, netip.MustParseAddr("10.0.1.1"), good.Gateway())
}

func TestSetupHostRejectsBadInput(t *testing.T) {
	err := SetupHost("/nonexistent", Host{VPCCIDRs: []netip.Prefix{{}}, SNAT: SNAT{ExcludeCIDRs: []string{"fd00::/8"}, Randomize: "sometimes"}})
	require.Error(t, err)
	for _, want := range []string{"primary IP", "VPC CIDR", `excluded CIDR "fd00::/8"`, `randomization "sometimes"`} {
		assert.Contains(t, err.Error(), want)
	}
}

// nodeNS makes a namespace with an ENI-like link eth1 (a veth whose peer
// sits in a second namespace), removed when the test ends.
func nodeNS(t testing.TB, mac string) (string, netlink.Link) {
	t.Helper()
	if !nsutil.IsRoot() {
		t.Skip("needs root: creates network namespaces")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	base := "enlt-cni-ns" + hex.EncodeToString(b)
	node, err := nsutil.NewNamed(base + "-node")
	require.NoError(t, err)
	t.Cleanup(func() { _ = nsutil.DeleteNamed(base + "-node") })
	vpc, err := nsutil.NewNamed(base + "-vpc")
	require.NoError(t, err)
	t.Cleanup(func() { _ = nsutil.DeleteNamed(base + "-vpc") })

	h, err := nsutil.Handle(node)
	require.NoError(t, err)
	t.Cleanup(h.Close)
	vf, err := os.Open(vpc)
	require.NoError(t, err)
	defer vf.Close()
	hw, _ := net.ParseMAC(mac)
	require.NoError(t, h.LinkAdd(&netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: "eth1", HardwareAddr: hw, MTU: 1500},
		PeerName:  "vpc-eth1", PeerNamespace: netlink.NsFd(int(vf.Fd())),
	}))
	l, err := h.LinkByName("eth1")
	require.NoError(t, err)
	return node, l
}

func TestSetupENIPrivileged(t *testing.T) {
	mac := "02:aa:00:00:01:01"
	node, _ := nodeNS(t, mac)
	eni := ENI{MAC: mac, PrimaryIP: netip.MustParseAddr("10.0.1.20"), SubnetCIDR: netip.MustParsePrefix("10.0.1.0/24"), DeviceNumber: 1, MTU: 9001}
	require.NoError(t, SetupENI(node, eni))
	require.NoError(t, SetupENI(node, eni), "second run changes nothing and does not fail")
	requireIPTables(t)
	host := Host{PrimaryMAC: mac, PrimaryIP: netip.MustParseAddr("10.0.1.10"), VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, SNAT: SNAT{NodePortSupport: true}}
	require.NoError(t, SetupHost(node, host))
	require.NoError(t, SetupHost(node, host), "second run changes nothing and does not fail")

	h, err := nsutil.Handle(node)
	require.NoError(t, err)
	defer h.Close()
	l, err := h.LinkByName("eth1")
	require.NoError(t, err)
	assert.Equal(t, 9001, l.Attrs().MTU)
	assert.NotZero(t, l.Attrs().Flags&net.FlagUp, "link is up")

	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	require.NoError(t, err)
	require.Len(t, addrs, 1)
	assert.Equal(t, "10.0.1.20/24", addrs[0].IPNet.String())

	table, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 2}, netlink.RT_FILTER_TABLE)
	require.NoError(t, err)
	var got []string
	for _, r := range table {
		got = append(got, routeString(r))
	}
	assert.ElementsMatch(t, []string{"10.0.1.1/32 scope link", "default via 10.0.1.1"}, got)

	main, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN, LinkIndex: l.Attrs().Index}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_OIF)
	require.NoError(t, err)
	assert.Empty(t, main, "kernel subnet route removed from main")

	rule := netlink.NewRule()
	rule.Src = &net.IPNet{IP: net.ParseIP("10.0.1.20").To4(), Mask: net.CIDRMask(32, 32)}
	rule.Table, rule.Priority = 2, datapath.ENIRulePriority
	assert.Equal(t, 1, countRules(t, h, rule), "exactly one rule from 10.0.1.20 lookup 2 at 32765")
	assert.Equal(t, 1, countRules(t, h, kernel.FwmarkRule()), "exactly one fwmark rule at 1024")

	require.NoError(t, TeardownENI(node, eni))
	require.NoError(t, TeardownENI(node, eni), "teardown is idempotent")
	assert.Equal(t, 0, countRules(t, h, rule))
	table, err = h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 2}, netlink.RT_FILTER_TABLE)
	require.NoError(t, err)
	assert.Empty(t, table)
}

func TestSetupENIMissingLink(t *testing.T) {
	node, _ := nodeNS(t, "02:aa:00:00:02:01")
	err := SetupENI(node, ENI{MAC: "02:aa:00:00:09:09", PrimaryIP: netip.MustParseAddr("10.0.1.20"), SubnetCIDR: netip.MustParsePrefix("10.0.1.0/24"), DeviceNumber: 1, LinkWait: 100 * time.Millisecond})
	require.ErrorIs(t, err, ErrLinkNotFound)
	assert.Contains(t, err.Error(), "02:aa:00:00:09:09")
}

func routeString(r netlink.Route) string {
	if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
		return "default via " + r.Gw.String()
	}
	s := r.Dst.String()
	if r.Scope == netlink.SCOPE_LINK {
		s += " scope link"
	}
	return s
}

func countRules(t *testing.T, h *netlink.Handle, want *netlink.Rule) int {
	t.Helper()
	rules, err := h.RuleList(netlink.FAMILY_V4)
	require.NoError(t, err)
	n := 0
	for _, r := range rules {
		if kernel.SameRule(r, *want) {
			n++
		}
	}
	return n
}

// requireIPTables skips a test that needs the iptables binary, saying so.
func requireIPTables(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skipf("needs the iptables binary (scripts/setup.sh installs it, nft backend): %v", err)
	}
}

// Without the iptables binary, host set-up fails naming it, as upstream's
// SetupHostNetwork fails on iptables.NewWithProtocol (and aws-node exits).
func TestSetupHostWithoutIPTablesNamesIt(t *testing.T) {
	mac := "02:aa:00:00:03:01"
	node, _ := nodeNS(t, mac)
	t.Setenv("PATH", t.TempDir())
	err := SetupHost(node, Host{PrimaryMAC: mac, PrimaryIP: netip.MustParseAddr("10.0.1.10"), VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `exec: "iptables": executable file not found in $PATH`)
	assert.Contains(t, err.Error(), "failed to create iptables")
}
