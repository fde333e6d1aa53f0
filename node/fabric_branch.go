package node

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
)

// Branch ENIs in the VPC namespace: a branch ENI has no link of its own;
// its frames travel on its trunk ENI's link tagged with its VLAN id. The
// fabric gives each associated branch a VLAN sub-interface on the trunk's
// peer (<peer>.<vlan>): what arrives on it is the branch's traffic (its
// address, so its security groups), and the branch's address is routed
// back through it, tagged, to the branch ENI's MAC — which is the MAC of
// the plugin's vlan.eth.<vlan> link on the node.

// setPeer records the VPC-side peer of an ENI's link (veth backend).
func (f *fabric) setPeer(eniID, peer string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.peers == nil {
		f.peers = map[string]string{}
	}
	f.peers[eniID] = peer
}

// forgetPeer drops an ENI's peer as its link goes.
func (f *fabric) forgetPeer(eniID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.peers, eniID)
}

// errNoTrunkLink is a branch plugged before its trunk ENI's link exists
// (the trunk's hot-plug delay); the caller retries.
var errNoTrunkLink = errors.New("the trunk ENI has no link on the node yet")

// branchSubif names the VLAN sub-interface of a branch on the trunk's peer.
func branchSubif(peer string, vlan int) string { return peer + "." + strconv.Itoa(vlan) }

// plugBranch connects a branch ENI (address ip, MAC mac, VLAN vlan on the
// trunk ENI trunkID) to the VPC: the sub-interface, up, without the
// kernel's source check (rp_filter=0: the node ARPs for the subnet gateway
// on its VLAN link from another ENI's address, as it has none on it, and
// the kernel's loose check refuses any source not routed through a link
// that has no address of its own), the
// next-hop neighbour → the branch's MAC and the route to its address.
// Plugging a branch that is plugged already changes nothing.
func (f *fabric) plugBranch(trunkID string, vlan int, mac net.HardwareAddr, ip netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	peerName, ok := f.peers[trunkID]
	if !ok {
		return fmt.Errorf("node: branch ENI on VLAN %d of trunk %s: %w", vlan, trunkID, errNoTrunkLink)
	}
	peer, err := f.h.LinkByName(peerName)
	if err != nil {
		return fmt.Errorf("node: trunk %s peer %s: %w", trunkID, peerName, err)
	}
	name := branchSubif(peerName, vlan)
	sub, err := f.h.LinkByName(name)
	if err != nil {
		if err := f.h.LinkAdd(&netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: peer.Attrs().Index, MTU: linkMTU}, VlanId: vlan}); err != nil {
			return fmt.Errorf("node: VLAN %d on trunk peer %s: %w", vlan, peerName, err)
		}
		if sub, err = f.h.LinkByName(name); err != nil {
			return fmt.Errorf("node: VLAN link %s: %w", name, err)
		}
	}
	if err := nsutil.Do(f.path, func() error {
		return writeSysctls(map[string]string{
			"net/ipv4/conf/" + name + "/rp_filter":      "0",
			"net/ipv4/conf/" + name + "/send_redirects": "0",
		})
	}); err != nil {
		return fmt.Errorf("node: VLAN link %s: %w", name, err)
	}
	if err := f.h.LinkSetUp(sub); err != nil {
		return fmt.Errorf("node: VLAN link %s up: %w", name, err)
	}
	nh := net.ParseIP(FabricNextHop)
	idx := sub.Attrs().Index
	if err := f.h.NeighSet(&netlink.Neigh{LinkIndex: idx, Family: unix.AF_INET, State: netlink.NUD_PERMANENT, IP: nh, HardwareAddr: mac}); err != nil {
		return fmt.Errorf("node: next-hop neighbour on %s: %w", name, err)
	}
	r := &netlink.Route{LinkIndex: idx, Dst: kernel.HostNet(ip), Gw: nh, Flags: int(netlink.FLAG_ONLINK), Table: unix.RT_TABLE_MAIN}
	if err := f.h.RouteReplace(r); err != nil {
		return fmt.Errorf("node: route %s via %s: %w", ip, name, err)
	}
	return nil
}

// unplugBranch removes a branch's sub-interface (its route goes with it);
// one already gone, or a trunk without a link, is not an error.
func (f *fabric) unplugBranch(trunkID string, vlan int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	peerName, ok := f.peers[trunkID]
	if !ok {
		return nil
	}
	name := branchSubif(peerName, vlan)
	l, err := f.h.LinkByName(name)
	if err != nil {
		return nil
	}
	if err := f.h.LinkDel(l); err != nil {
		return fmt.Errorf("node: delete VLAN link %s: %w", name, err)
	}
	return nil
}
