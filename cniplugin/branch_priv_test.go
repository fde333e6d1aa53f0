package cniplugin

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/ipamd/rpc"
)

const (
	branchVLAN = 3
	branchMAC  = "02:00:00:00:b0:03"
	branchGW   = "10.0.1.1"
)

// vlanSupported says whether this kernel makes VLAN links (8021q loaded).
func vlanSupported() bool {
	_, err := os.Stat("/proc/net/vlan")
	return err == nil
}

func needVLAN(t *testing.T) {
	t.Helper()
	if !vlanSupported() {
		t.Skip("needs the kernel's 8021q (VLAN links): this kernel lacks it; it runs in the VM (make vm-test, or scripts/vmtest/run.sh -pkgs ./cniplugin -run Branch)")
	}
}

// branchNode is a test node whose eth1 plays the trunk ENI and a fake
// ipamd answering ADD as for a branch ENI pod on VLAN 3 (no ipamd host
// rules: a branch pod's datapath does not use them).
func branchNode(t *testing.T) (*testNode, *fakeIPAMD) {
	n := newBareNode(t)
	n.addENILink(t, 0, eth0MAC)
	n.addENILink(t, 1, eth1MAC)
	ipamd := newFakeIPAMD(t, n.socket, newFakePools())
	trunk, err := n.h.LinkByName("eth1")
	require.NoError(t, err)
	ipamd.branch = &rpc.AddNetworkReply{PodVlanId: branchVLAN, PodENIMAC: branchMAC, PodENISubnetGW: branchGW, ParentIfIndex: int32(trunk.Attrs().Index)}
	return n, ipamd
}

// The branch ENI datapath of upstream's driver.go SetupBranchENIPodNetwork
// and TeardownBranchENIPodNetwork, in both enforcing modes: vlan.eth.3 on
// the trunk's link with the branch ENI's MAC, table 103 (vlan+100) with
// the gateway's link route and the default route through it; strict: a
// "vlan…" host veth, the pod's route in table 103 only and `iif` rules at
// priority 10 for the VLAN link and the host veth; standard: the usual
// "eni…" host veth and the 512/1536 address rules, 1536 into table 103.
// The dummy interface carries the VLAN id (upstream's DEL reads it from
// prevResult); CHECK passes, then names the missing VLAN link; DEL removes
// the link and every rule.
func TestBranchENIDatapathAsUpstreamSetupBranchENIPodNetwork(t *testing.T) {
	needRoot(t)
	needVLAN(t)
	for _, mode := range []datapath.EnforcingMode{datapath.EnforcingStrict, datapath.EnforcingStandard} {
		t.Run(string(mode), func(t *testing.T) {
			n, _ := branchNode(t)
			pod, podPath := n.newPod(t)
			list := n.confList(t, "1.0.0", map[string]any{"podSGEnforcingMode": string(mode)})
			rt := runtimeConf(pod, podPath)
			r, ip := n.addIPv4(t, list, rt)
			prefix := "vlan"
			if mode == datapath.EnforcingStandard {
				prefix = "eni"
			}
			hostVeth := datapath.HostVethName(prefix, "default", pod)
			require.Len(t, r.Interfaces, 3)
			assert.Equal(t, hostVeth, r.Interfaces[0].Name)
			assert.Equal(t, "3", r.Interfaces[2].Mac, "the dummy interface carries the VLAN id")

			trunk, err := n.h.LinkByName("eth1")
			require.NoError(t, err)
			l, err := n.h.LinkByName("vlan.eth.3")
			require.NoError(t, err, "the VLAN link upstream's buildVlanLinkName names")
			vlan, ok := l.(*netlink.Vlan)
			require.True(t, ok, "vlan.eth.3 is a VLAN link, got %s", l.Type())
			assert.Equal(t, branchVLAN, vlan.VlanId)
			assert.Equal(t, trunk.Attrs().Index, vlan.ParentIndex, "on the trunk ENI's link (ParentIfIndex)")
			assert.Equal(t, branchMAC, vlan.HardwareAddr.String(), "with the branch ENI's MAC")
			assert.NotZero(t, vlan.Flags&net.FlagUp)

			table := datapath.VLANTable(branchVLAN)
			require.Equal(t, 103, table)
			routes, err := n.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
			require.NoError(t, err)
			var got []string
			for _, rr := range routes {
				got = append(got, routeString(rr)+" dev "+strconv.Itoa(rr.LinkIndex))
			}
			idx, vethIdx := strconv.Itoa(l.Attrs().Index), ""
			if hv, err := n.h.LinkByName(hostVeth); assert.NoError(t, err) {
				vethIdx = strconv.Itoa(hv.Attrs().Index)
			}
			assert.Contains(t, got, branchGW+"/32 scope link dev "+idx)
			assert.Contains(t, got, "default via "+branchGW+" dev "+idx)

			iifVLAN, iifVeth := iifRule("vlan.eth.3", table, netlink.FAMILY_V4), iifRule(hostVeth, table, netlink.FAMILY_V4)
			if mode == datapath.EnforcingStrict {
				assert.Contains(t, got, ip.String()+"/32 scope link dev "+vethIdx, "strict: the pod's route is in the VLAN table")
				assert.Equal(t, 1, n.countRules(t, iifVLAN), "iif vlan.eth.3 lookup 103, priority 10")
				assert.Equal(t, 1, n.countRules(t, iifVeth), "iif <host veth> lookup 103, priority 10")
				assert.Zero(t, n.countPodRules(t, ip, datapath.ToPodRulePriority), "strict: no address rules")
			} else {
				assert.Zero(t, n.countRules(t, iifVLAN), "standard: no iif rules")
				assert.Equal(t, 1, n.countPodRules(t, ip, datapath.ToPodRulePriority), "to pod lookup main (512)")
				assert.Equal(t, 1, n.countPodRules(t, ip, datapath.FromPodRulePriority), "from pod lookup 103 (1536)")
			}

			require.NoError(t, n.check(list, rt), "CHECK of a healthy branch pod")
			require.NoError(t, n.h.LinkDel(l))
			err = n.check(list, rt)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "vlan link vlan.eth.3 is missing")

			_, err = n.setupVLANAgain(t, trunk.Attrs().Index)
			require.NoError(t, err)
			require.NoError(t, n.del(list, rt))
			_, err = n.h.LinkByName("vlan.eth.3")
			assert.Error(t, err, "DEL removes the VLAN link (TeardownBranchENIPodNetwork)")
			assert.Zero(t, n.countRules(t, iifVLAN))
			assert.Zero(t, n.countRules(t, iifVeth))
			assert.Zero(t, n.countPodRules(t, ip, datapath.ToPodRulePriority))
			assert.Zero(t, n.countPodRules(t, ip, datapath.FromPodRulePriority))
			require.NoError(t, n.del(list, rt), "DEL again succeeds")
		})
	}
}

// setupVLANAgain puts vlan.eth.3 back, as a test's broken CHECK removed it.
func (n *testNode) setupVLANAgain(t *testing.T, parent int) (netlink.Link, error) {
	t.Helper()
	h := &hostSide{h: n.h}
	mac, _ := net.ParseMAC(branchMAC)
	return h.setupVLAN(branchENI{VLAN: branchVLAN, MAC: mac, Gateway: netip.MustParseAddr(branchGW), Parent: parent}, datapath.VLANTable(branchVLAN))
}

// On a kernel without 8021q the branch pod's ADD fails naming the missing
// VLAN support, and leaves nothing behind (the host's case; the VM's kernel
// has 8021q).
func TestBranchENIWithout8021qSaysSo(t *testing.T) {
	needRoot(t)
	if vlanSupported() {
		t.Skip("this kernel has 8021q: TestBranchENIDatapathAsUpstreamSetupBranchENIPodNetwork runs instead")
	}
	n, ipamd := branchNode(t)
	pod, podPath := n.newPod(t)
	list := n.confList(t, "1.0.0", nil)
	_, err := n.add(list, runtimeConf(pod, podPath))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "vlan link vlan.eth.3")
	assert.Contains(t, err.Error(), "8021q")
	assert.Zero(t, ipamd.assignedCount(), "the address went back to ipamd")
	_, err = n.h.LinkByName(datapath.HostVethName("vlan", "default", pod))
	assert.Error(t, err, "no host veth left")
}
