package node

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
)

// The VPC in IPv6 (vpc: {ipv6: true}): the VPC namespace routes each ENI's
// IPv6 addresses and /80 prefixes to its peer through FabricNextHopV6, a
// link-local next hop whose permanent neighbour entry is the ENI's MAC; the
// node reaches the VPC through VPCRouterV6, the router's link-local
// address on every peer (on EC2 the node learns it from router
// advertisements; the lab installs the default route).
const (
	FabricNextHopV6 = "fe80::e"
	VPCRouterV6     = "fe80::1"
)

// setupIPv6 makes the VPC namespace an IPv6 router.
func (f *fabric) setupIPv6() error {
	err := nsutil.Do(f.path, func() error {
		return writeSysctls(map[string]string{
			"net/ipv6/conf/all/disable_ipv6":     "0",
			"net/ipv6/conf/default/disable_ipv6": "0",
			"net/ipv6/conf/all/forwarding":       "1",
			"net/ipv6/conf/default/forwarding":   "1",
		})
	})
	if err != nil {
		return fmt.Errorf("node: VPC namespace IPv6: %w", err)
	}
	return nil
}

// plugIPv6Peer gives a peer the VPC router's link-local address and the
// next-hop neighbour → ENI MAC. Called with f.mu held, from addENILink.
func (f *fabric) plugIPv6Peer(peer netlink.Link, mac net.HardwareAddr) error {
	router := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(VPCRouterV6), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
	if err := f.h.AddrAdd(peer, router); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("VPC router %s on %s: %w", VPCRouterV6, peer.Attrs().Name, err)
	}
	if err := f.h.NeighSet(&netlink.Neigh{LinkIndex: peer.Attrs().Index, Family: unix.AF_INET6, State: netlink.NUD_PERMANENT,
		IP: net.ParseIP(FabricNextHopV6), HardwareAddr: mac}); err != nil {
		return fmt.Errorf("IPv6 next-hop neighbour on %s: %w", peer.Attrs().Name, err)
	}
	return nil
}

// eniRoutesV6 is what EC2 delivers to an ENI in IPv6: its addresses (/128)
// and /80 prefixes.
func eniRoutesV6(e fakeec2.ENI) map[netip.Prefix]bool {
	want := map[netip.Prefix]bool{}
	for _, a := range e.IPv6Addrs {
		want[netip.PrefixFrom(a, 128)] = true
	}
	for _, p := range e.IPv6Prefixes {
		want[p.Masked()] = true
	}
	return want
}

// syncRoutesV6 makes the IPv6 routes through the peer exactly the ENI's
// IPv6 addresses and prefixes (the link-local and multicast routes the
// kernel keeps are left alone). Called with f.mu held, from syncRoutes.
func (f *fabric) syncRoutesV6(peerName string, idx int, e fakeec2.ENI) error {
	have, err := nsutil.Retry(func() ([]netlink.Route, error) {
		return f.h.RouteListFiltered(unix.AF_INET6, &netlink.Route{LinkIndex: idx, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return fmt.Errorf("node: IPv6 routes on %s: %w", peerName, err)
	}
	want := eniRoutesV6(e)
	nh := net.ParseIP(FabricNextHopV6)
	var errs []error
	for _, r := range have {
		if r.Dst == nil || !r.Gw.Equal(nh) {
			continue // the kernel's own fe80::/64 and multicast routes
		}
		p, ok := netipPrefix(r.Dst)
		if ok && want[p] {
			delete(want, p)
			continue
		}
		if err := f.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("node: delete route %s on %s: %w", r.Dst, peerName, err))
		}
	}
	for p := range want {
		r := &netlink.Route{LinkIndex: idx, Dst: kernel.PrefixNet(p), Gw: nh, Table: unix.RT_TABLE_MAIN}
		if err := f.h.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("node: route %s via %s: %w", p, peerName, err))
		}
	}
	return errors.Join(errs...)
}
