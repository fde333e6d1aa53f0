package cniplugin

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
)

// findings collects one line per missing or wrong item.
type findings []string

func (f *findings) add(format string, args ...any) { *f = append(*f, fmt.Sprintf(format, args...)) }

// check compares the live state with what ADD built and returns one line
// per missing or wrong item.
func (s *hostSide) check(a Attachment, table int, mtu int) []string {
	var bad findings
	host := s.checkHostVeth(a, &bad)
	s.checkHostRules(a, table, &bad)
	checkPodSide(a, mtu, host, &bad)
	return bad
}

// checkHostVeth verifies the host veth (MAC, up) and the
// host route to the pod; it returns the veth, nil when it is missing.
func (s *hostSide) checkHostVeth(a Attachment, bad *findings) netlink.Link {
	host, err := s.h.LinkByName(a.HostVeth)
	if err != nil {
		bad.add("host veth %s is missing from the node namespace", a.HostVeth)
		return nil
	}
	if a.HostMAC != "" && host.Attrs().HardwareAddr.String() != a.HostMAC {
		bad.add("host veth %s has MAC %s, prevResult says %s", a.HostVeth, host.Attrs().HardwareAddr, a.HostMAC)
	}
	if host.Attrs().Flags&net.FlagUp == 0 {
		bad.add("host veth %s is down", a.HostVeth)
	}
	routes, err := nsutil.Retry(func() ([]netlink.Route, error) {
		return s.h.RouteListFiltered(familyOf(a.IP), &netlink.Route{Dst: kernel.HostNet(a.IP), Table: datapath.MainTable},
			netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	})
	ok := slices.ContainsFunc(routes, func(r netlink.Route) bool {
		return r.LinkIndex == host.Attrs().Index && (r.Scope == netlink.SCOPE_LINK || a.IP.Is6()) && r.Gw == nil
	})
	if err != nil || !ok {
		bad.add("host route %v/%d dev %s scope link is missing", a.IP, hostPrefixLen(a.IP), a.HostVeth)
	}
	return host
}

// hasAddr reports whether addrs holds want.
func hasAddr(addrs []netlink.Addr, want *net.IPNet) bool {
	return slices.ContainsFunc(addrs, func(a netlink.Addr) bool { return a.IPNet.String() == want.String() })
}

// checkHostRules verifies the pod's rules (the from-rule only for a
// table other than main, as upstream's setupIPBasedContainerRouteRules).
func (s *hostSide) checkHostRules(a Attachment, table int, bad *findings) {
	if ok, err := kernel.RuleExists(s.h, kernel.ToPodRule(a.IP)); err != nil || !ok {
		bad.add("rule \"to %v lookup main\" (priority %d) is missing", a.IP, datapath.ToPodRulePriority)
	}
	if table != datapath.MainTable {
		if ok, err := kernel.RuleExists(s.h, kernel.FromPodRule(a.IP, table)); err != nil || !ok {
			bad.add("rule \"from %v lookup %d\" (priority %d) is missing", a.IP, table, datapath.FromPodRulePriority)
		}
	}
}

// checkPodSide verifies the pod's interface, address, routes and the
// neighbour entry of its gateway (whose MAC must be host's when host is
// known).
func checkPodSide(a Attachment, mtu int, host netlink.Link, bad *findings) {
	pod, err := nsutil.Handle(a.Netns)
	if err != nil {
		bad.add("pod network namespace %s cannot be opened: %v", a.Netns, err)
		return
	}
	defer pod.Close()
	l, err := pod.LinkByName(a.IfName)
	if err != nil {
		bad.add("interface %s is missing from %s", a.IfName, a.Netns)
		return
	}
	if a.PodMAC != "" && l.Attrs().HardwareAddr.String() != a.PodMAC {
		bad.add("interface %s has MAC %s, prevResult says %s", a.IfName, l.Attrs().HardwareAddr, a.PodMAC)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		bad.add("interface %s is down", a.IfName)
	}
	if mtu > 0 && l.Attrs().MTU != mtu {
		bad.add("interface %s has MTU %d, want %d", a.IfName, l.Attrs().MTU, mtu)
	}
	addrs, _ := nsutil.Retry(func() ([]netlink.Addr, error) { return pod.AddrList(l, familyOf(a.IP)) })
	if !hasAddr(addrs, kernel.HostNet(a.IP)) {
		bad.add("address %v/%d is missing from %s", a.IP, hostPrefixLen(a.IP), a.IfName)
	}
	checkPodRoutes(pod, l, a.IfName, gatewayOf(a.IP), bad)
	checkPodNeighbour(pod, l, a.IfName, host, gatewayOf(a.IP), bad)
}

// checkPodRoutes verifies `169.254.1.1 scope link` and `default via
// 169.254.1.1` on the pod's interface.
func checkPodRoutes(pod *netlink.Handle, l netlink.Link, ifName string, gw netip.Addr, bad *findings) {
	routes, _ := nsutil.Retry(func() ([]netlink.Route, error) { return pod.RouteList(l, familyOf(gw)) })
	gwRoute, defRoute := false, false
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == kernel.HostNet(gw).String() && (r.Scope == netlink.SCOPE_LINK || gw.Is6()) {
			gwRoute = true
		}
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0" || r.Dst.String() == "::/0") && r.Gw != nil && r.Gw.Equal(gw.AsSlice()) {
			defRoute = true
		}
	}
	if !gwRoute {
		bad.add("pod route %v scope link dev %s is missing", gw, ifName)
	}
	if !defRoute {
		bad.add("pod route default via %v dev %s is missing", gw, ifName)
	}
}

// checkPodNeighbour verifies the permanent entry gateway → host veth MAC.
func checkPodNeighbour(pod *netlink.Handle, l netlink.Link, ifName string, host netlink.Link, gw netip.Addr, bad *findings) {
	neighs, _ := nsutil.Retry(func() ([]netlink.Neigh, error) { return pod.NeighList(l.Attrs().Index, familyOf(gw)) })
	for _, n := range neighs {
		if n.IP.Equal(gw.AsSlice()) && n.State&netlink.NUD_PERMANENT != 0 &&
			(host == nil || n.HardwareAddr.String() == host.Attrs().HardwareAddr.String()) {
			return
		}
	}
	bad.add("permanent neighbour %v → host veth MAC is missing on %s", gw, ifName)
}
