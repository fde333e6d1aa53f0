package ipamd

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/nsutil"
)

// With a real node namespace: each secondary ENI gets its table and source
// rule, the host gets the fwmark rule, and a restart drops the assignment
// of a pod whose host veth is gone while keeping the others.
func TestNodeNetworkingInNamespace(t *testing.T) {
	if !nsutil.IsRoot() {
		t.Skip("needs root: creates a network namespace")
	}
	b := make([]byte, 3)
	rand.Read(b)
	name := "enlipd" + hex.EncodeToString(b)
	path, err := nsutil.NewNamed(name)
	require.NoError(t, err)
	t.Cleanup(func() { nsutil.DeleteNamed(name) })
	h, err := nsutil.Handle(path)
	require.NoError(t, err)
	t.Cleanup(h.Close)
	addVeth := func(name, peer, mac string) {
		la := netlink.NewLinkAttrs()
		la.Name = name
		if mac != "" {
			la.HardwareAddr, err = net.ParseMAC(mac)
			require.NoError(t, err)
		}
		require.NoError(t, h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: peer}))
	}

	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "c5.large", Modify: func(o *Options) { o.NetNSPath = path }})
	// The node's hot-plug: a link with the ENI's MAC appears on attach.
	events, stop := l.ec2.Watch()
	defer stop()
	go func() {
		for ev := range events {
			if ev.Kind == fakeec2.ENIAttached && ev.InstanceID == n.inst.ID && ev.ENI.DeviceIndex > 0 {
				addVeth(fmt.Sprintf("eth%d", ev.ENI.DeviceIndex), fmt.Sprintf("peer%d", ev.ENI.DeviceIndex), ev.ENI.MAC)
			}
		}
	}()
	// The instance boots with eth0, its primary ENI: upstream's
	// SetupHostNetwork finds it by MAC for the connmark rule.
	for _, e := range n.inst.ENIs {
		if e.DeviceIndex == 0 {
			addVeth("eth0", "peer0", e.MAC)
		}
	}
	n.start()
	addVeth(datapath.HostVethName("eni", "default", "a"), "pa", "")
	// Pod c's veth has another prefix (AWS_VPC_K8S_CNI_VETHPREFIX changed):
	// upstream matches by the hash suffix only.
	addVeth("abc"+datapath.HostVethName("", "default", "c"), "pc", "")
	require.True(t, n.addPod("a").Success)
	bReply := n.addPod("b")
	require.True(t, bReply.Success)
	require.True(t, n.addPod("c").Success)
	l.advance(10*time.Second, time.Second)
	require.Equal(t, 2, n.d.Status().ENIs)
	var second fakeec2.ENI
	for _, e := range n.ec2ENIs() {
		if e.DeviceIndex == 1 {
			second = e
		}
	}
	rules, err := h.RuleList(netlink.FAMILY_V4)
	require.NoError(t, err)
	var fromENI, fwmark bool
	for _, r := range rules {
		if r.Priority == 32765 && r.Table == 2 && r.Src != nil && r.Src.IP.Equal(net.ParseIP(second.PrimaryIP.String())) {
			fromENI = true
		}
		if r.Priority == 1024 && r.Mark == 0x80 {
			fwmark = true
		}
	}
	assert.True(t, fromENI, "rule from %v lookup 2 priority 32765", second.PrimaryIP)
	assert.True(t, fwmark, "fwmark 0x80/0x80 lookup main priority 1024")
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 2}, netlink.RT_FILTER_TABLE)
	require.NoError(t, err)
	assert.NotEmpty(t, routes, "table 2 has the ENI's routes")

	// The plugin's rules for pod b, left behind when b went while ipamd
	// was down.
	bIP := &net.IPNet{IP: net.ParseIP(bReply.IPAllocationMetadata[0].IPv4Addr).To4(), Mask: net.CIDRMask(32, 32)}
	to := netlink.NewRule()
	to.Priority, to.Table, to.Dst = datapath.ToPodRulePriority, 254, bIP
	require.NoError(t, h.RuleAdd(to))
	from := netlink.NewRule()
	from.Priority, from.Table, from.Src = datapath.FromPodRulePriority, 2, bIP
	require.NoError(t, h.RuleAdd(from))

	n.stop()
	n.start()
	assert.Equal(t, 2, n.d.Status().AssignedIPs, "pod b has no host veth: its address is released; a and c keep theirs")
	assert.Contains(t, n.logs.String(), "stale IP allocation for ID(c-b)")
	assert.Contains(t, n.logs.String(), "Pruning potentially stale IP rules")
	rules, err = h.RuleList(netlink.FAMILY_V4)
	require.NoError(t, err)
	for _, r := range rules {
		stale := (r.Dst != nil && r.Dst.String() == bIP.String()) || (r.Src != nil && r.Src.String() == bIP.String())
		assert.False(t, stale, "upstream PruneStaleAllocations: rule %v of the gone pod b is deleted", r)
	}
	_, err = n.del("c")
	require.NoError(t, err)

	// The checkpoint is lost: the plugin's host route to pod a's address
	// still says who holds it, so it is not handed out again.
	aIP := n.addPod("a").IPAllocationMetadata[0].IPv4Addr
	veth, err := h.LinkByName(datapath.HostVethName("eni", "default", "a"))
	require.NoError(t, err)
	require.NoError(t, h.LinkSetUp(veth))
	require.NoError(t, h.RouteAdd(&netlink.Route{LinkIndex: veth.Attrs().Index, Dst: &net.IPNet{IP: net.ParseIP(aIP).To4(), Mask: net.CIDRMask(32, 32)}, Scope: netlink.SCOPE_LINK}))
	n.stop()
	require.NoError(t, os.WriteFile(n.opts.CheckpointPath, []byte("{trunc"), 0o644))
	// Upstream's ReadBackingStore: a corrupt checkpoint fails start-up.
	_, err = n.tryStart()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "failed ipam state recovery from backing store")
}
