package cniplugin

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/netsetup"
)

// Rule priorities of the upstream VPC CNI's pod rules.
const (
	// ToPodRulePriority: `to <pod ip> lookup main` — traffic to a pod is
	// routed by main (its /32 host route) whatever other rules say.
	ToPodRulePriority = 512
	// FromPodRulePriority: `from <pod ip> lookup <eni table>` — a
	// secondary-ENI pod's traffic leaves through its own ENI.
	FromPodRulePriority = 1536
)

// selfNetNS is the plugin's own namespace: the node's, where the runtime
// runs it and where the host ends of veths go.
const selfNetNS = "/proc/self/ns/net"

// ToPodRule is `to <ip>/32 lookup main` at priority 512.
func ToPodRule(ip netip.Addr) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = netlink.FAMILY_V4
	r.Dst = hostNet(ip)
	r.Table = unix.RT_TABLE_MAIN
	r.Priority = ToPodRulePriority
	return r
}

// FromPodRule is `from <ip>/32 lookup <table>` at priority 1536.
func FromPodRule(ip netip.Addr, table int) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = netlink.FAMILY_V4
	r.Src = hostNet(ip)
	r.Table = table
	r.Priority = FromPodRulePriority
	return r
}

func hostNet(ip netip.Addr) *net.IPNet {
	return &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}
}

// gatewayAddr sits on every host veth with scope host so the pod's gateway
// answers (a pod can ping 169.254.1.1, a health signal the lab relies on)
// without ever being chosen as a source address for traffic to the pod.
func gatewayAddr() *netlink.Addr {
	return &netlink.Addr{IPNet: hostNet(GatewayIP), Scope: unix.RT_SCOPE_HOST}
}

// hostSide opens the node namespace the plugin runs in.
type hostSide struct {
	h  *netlink.Handle
	ns *os.File // for placing veth peers
}

func openHost() (*hostSide, error) {
	f, err := os.Open(selfNetNS)
	if err != nil {
		return nil, fmt.Errorf("open node namespace: %w", err)
	}
	h, err := nsutil.Handle(selfNetNS)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &hostSide{h: h, ns: f}, nil
}

func (s *hostSide) Close() {
	s.h.Close()
	s.ns.Close()
}

// stageHook is called at named points of the setup; an error aborts it as a
// real failure would (the test hook of failure injection).
type stageHook func(stage string) error

// wire builds everything DESIGN §4 lists for a pod, and undoes whatever it
// built if any step fails. a.HostVeth, IfName, Netns, IP, MTU are inputs; the
// MACs are filled in.
func (s *hostSide) wire(a *Attachment, table int, alias string, hook stageHook) error {
	pod, err := nsutil.Handle(a.Netns)
	if err != nil {
		return fmt.Errorf("pod namespace %s: %w", a.Netns, err)
	}
	defer pod.Close()

	// Undone on an error return and on a panic passing through alike.
	var undo []func()
	wired := false
	defer func() {
		if !wired {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	// A host veth of this name is left from an earlier sandbox of the same
	// pod (or an earlier attempt): it goes, as upstream does.
	if old, lerr := s.h.LinkByName(a.HostVeth); lerr == nil {
		if derr := s.h.LinkDel(old); derr != nil && !isGone(derr) {
			return fmt.Errorf("remove stale host veth %s: %w", a.HostVeth, derr)
		}
	}
	if _, lerr := pod.LinkByName(a.IfName); lerr == nil {
		return fmt.Errorf("interface %s already exists in %s", a.IfName, a.Netns)
	}

	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: a.IfName, MTU: a.MTU},
		PeerName:      a.HostVeth,
		PeerNamespace: netlink.NsFd(int(s.ns.Fd())),
		PeerMTU:       uint32(a.MTU),
	}
	if err := pod.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s (pod) / %s (node): %w", a.IfName, a.HostVeth, err)
	}
	undo = append(undo, func() {
		if l, err := s.h.LinkByName(a.HostVeth); err == nil {
			_ = s.h.LinkDel(l)
		}
		if l, err := pod.LinkByName(a.IfName); err == nil {
			_ = pod.LinkDel(l)
		}
	})
	if err := hook("veth"); err != nil {
		return err
	}

	host, err := s.h.LinkByName(a.HostVeth)
	if err != nil {
		return fmt.Errorf("host veth %s: %w", a.HostVeth, err)
	}
	a.HostMAC = host.Attrs().HardwareAddr.String()
	if err := s.h.LinkSetAlias(host, alias); err != nil {
		return fmt.Errorf("host veth %s: set alias: %w", a.HostVeth, err)
	}
	if err := s.h.AddrAdd(host, gatewayAddr()); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("host veth %s: add %v: %w", a.HostVeth, GatewayIP, err)
	}
	if err := s.h.LinkSetUp(host); err != nil {
		return fmt.Errorf("host veth %s: set up: %w", a.HostVeth, err)
	}

	// Pod side.
	podLink, err := pod.LinkByName(a.IfName)
	if err != nil {
		return fmt.Errorf("pod %s: %w", a.IfName, err)
	}
	a.PodMAC = podLink.Attrs().HardwareAddr.String()
	if err := pod.LinkSetUp(podLink); err != nil {
		return fmt.Errorf("pod %s: set up: %w", a.IfName, err)
	}
	if err := pod.AddrAdd(podLink, &netlink.Addr{IPNet: hostNet(a.IP)}); err != nil {
		return fmt.Errorf("pod %s: add %v/32: %w", a.IfName, a.IP, err)
	}
	podIdx := podLink.Attrs().Index
	for _, r := range []*netlink.Route{
		{LinkIndex: podIdx, Dst: hostNet(GatewayIP), Scope: netlink.SCOPE_LINK},
		{LinkIndex: podIdx, Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Gw: GatewayIP.AsSlice()},
	} {
		if err := pod.RouteReplace(r); err != nil {
			return fmt.Errorf("pod %s: route %v: %w", a.IfName, r.Dst, err)
		}
	}
	if err := pod.NeighSet(&netlink.Neigh{
		LinkIndex: podIdx, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
		IP: GatewayIP.AsSlice(), HardwareAddr: host.Attrs().HardwareAddr,
	}); err != nil {
		return fmt.Errorf("pod %s: neighbour %v: %w", a.IfName, GatewayIP, err)
	}
	if err := hook("pod"); err != nil {
		return err
	}

	// Host side: the /32 route and the rules.
	hostRoute := &netlink.Route{LinkIndex: host.Attrs().Index, Dst: hostNet(a.IP), Scope: netlink.SCOPE_LINK}
	if err := s.h.RouteReplace(hostRoute); err != nil {
		return fmt.Errorf("host route %v/32 dev %s: %w", a.IP, a.HostVeth, err)
	}
	// Rules left for this address by an earlier owner would misroute it.
	if err := removePodRules(s.h, a.IP); err != nil {
		return fmt.Errorf("remove stale rules of %v: %w", a.IP, err)
	}
	undo = append(undo, func() { _ = removePodRules(s.h, a.IP) })
	if err := s.h.RuleAdd(ToPodRule(a.IP)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("rule to %v lookup main (priority %d): %w", a.IP, ToPodRulePriority, err)
	}
	if table > 0 {
		if err := s.h.RuleAdd(FromPodRule(a.IP, table)); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("rule from %v lookup %d (priority %d): %w", a.IP, table, FromPodRulePriority, err)
		}
	}
	if err := hook("host"); err != nil {
		return err
	}
	wired = true
	return nil
}

// removePodRules deletes every 512 `to ip` and 1536 `from ip` rule, of any
// table.
func removePodRules(h *netlink.Handle, ip netip.Addr) error {
	rules, err := nsutil.Retry(func() ([]netlink.Rule, error) { return h.RuleList(netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("list rules: %w", err)
	}
	want := hostNet(ip).String()
	var errs []error
	for _, r := range rules {
		match := (r.Priority == ToPodRulePriority && r.Dst != nil && r.Dst.String() == want) ||
			(r.Priority == FromPodRulePriority && r.Src != nil && r.Src.String() == want)
		if !match {
			continue
		}
		if err := h.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete %v: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

// ownedElsewhere reports whether another link than hostVeth routes ip: the
// address already belongs to a newer pod, whose rules must stay.
func ownedElsewhere(h *netlink.Handle, ip netip.Addr, hostVeth string) bool {
	routes, err := nsutil.Retry(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: hostNet(ip), Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return false
	}
	for _, r := range routes {
		l, err := h.LinkByIndex(r.LinkIndex)
		if err == nil && l.Attrs().Name != hostVeth && l.Type() == "veth" {
			return true
		}
	}
	return false
}

// unwire removes what wire built for one attachment, tolerating every piece
// being gone already. The pod's link is removed from inside its namespace
// when that still exists; otherwise the host veth is removed if its alias
// says it belongs to this container (another sandbox of the same pod may own
// a veth of the same name).
func (s *hostSide) unwire(a Attachment, containerID string) error {
	var errs []error
	podGone := false
	if a.Netns != "" && a.IfName != "" {
		pod, err := nsutil.Handle(a.Netns)
		if err != nil {
			podGone = true // the netns is gone: its veth end went with it
		} else {
			if l, err := pod.LinkByName(a.IfName); err == nil {
				if err := pod.LinkDel(l); err != nil && !isGone(err) {
					errs = append(errs, fmt.Errorf("delete %s in %s: %w", a.IfName, a.Netns, err))
				}
			}
			pod.Close()
		}
	} else {
		podGone = true
	}
	if a.HostVeth != "" {
		if l, err := s.h.LinkByName(a.HostVeth); err == nil {
			cid, _, aliasIP, _, ok := parseAlias(l.Attrs().Alias)
			mine := (ok && cid == containerID) || (!ok && podGone)
			if mine && !a.IP.IsValid() && aliasIP.IsValid() {
				a.IP = aliasIP
			}
			if mine {
				if err := s.h.LinkDel(l); err != nil && !isGone(err) {
					errs = append(errs, fmt.Errorf("delete host veth %s: %w", a.HostVeth, err))
				}
			}
		}
	}
	if a.IP.IsValid() && !ownedElsewhere(s.h, a.IP, a.HostVeth) {
		if err := s.h.RouteDel(&netlink.Route{Dst: hostNet(a.IP), Table: unix.RT_TABLE_MAIN}); err != nil &&
			!errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete host route %v/32: %w", a.IP, err))
		}
		if err := removePodRules(s.h, a.IP); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// check compares the live state with what ADD built and returns one line
// per missing or wrong item.
func (s *hostSide) check(a Attachment, table int, mtu int) []string {
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }

	// Host side.
	host, err := s.h.LinkByName(a.HostVeth)
	if err != nil {
		add("host veth %s is missing from the node namespace", a.HostVeth)
	} else {
		if a.HostMAC != "" && host.Attrs().HardwareAddr.String() != a.HostMAC {
			add("host veth %s has MAC %s, prevResult says %s", a.HostVeth, host.Attrs().HardwareAddr, a.HostMAC)
		}
		if host.Attrs().Flags&net.FlagUp == 0 {
			add("host veth %s is down", a.HostVeth)
		}
		gw := false
		if addrs, err := nsutil.Retry(func() ([]netlink.Addr, error) { return s.h.AddrList(host, netlink.FAMILY_V4) }); err == nil {
			for _, ad := range addrs {
				gw = gw || ad.IPNet.String() == hostNet(GatewayIP).String()
			}
		}
		if !gw {
			add("host veth %s lacks the gateway address %v/32 the pod's ping of its gateway needs", a.HostVeth, GatewayIP)
		}
		routes, err := nsutil.Retry(func() ([]netlink.Route, error) {
			return s.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: hostNet(a.IP), Table: unix.RT_TABLE_MAIN},
				netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
		})
		ok := false
		for _, r := range routes {
			if r.LinkIndex == host.Attrs().Index && r.Scope == netlink.SCOPE_LINK && r.Gw == nil {
				ok = true
			}
		}
		if err != nil || !ok {
			add("host route %v/32 dev %s scope link is missing", a.IP, a.HostVeth)
		}
	}
	if ok, err := netsetup.RuleExists(s.h, ToPodRule(a.IP)); err != nil || !ok {
		add("rule \"to %v lookup main\" (priority %d) is missing", a.IP, ToPodRulePriority)
	}
	if table > 0 {
		if ok, err := netsetup.RuleExists(s.h, FromPodRule(a.IP, table)); err != nil || !ok {
			add("rule \"from %v lookup %d\" (priority %d) is missing", a.IP, table, FromPodRulePriority)
		}
	}

	// Pod side.
	pod, err := nsutil.Handle(a.Netns)
	if err != nil {
		add("pod network namespace %s cannot be opened: %v", a.Netns, err)
		return bad
	}
	defer pod.Close()
	l, err := pod.LinkByName(a.IfName)
	if err != nil {
		add("interface %s is missing from %s", a.IfName, a.Netns)
		return bad
	}
	if a.PodMAC != "" && l.Attrs().HardwareAddr.String() != a.PodMAC {
		add("interface %s has MAC %s, prevResult says %s", a.IfName, l.Attrs().HardwareAddr, a.PodMAC)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		add("interface %s is down", a.IfName)
	}
	if mtu > 0 && l.Attrs().MTU != mtu {
		add("interface %s has MTU %d, want %d", a.IfName, l.Attrs().MTU, mtu)
	}
	addrs, _ := nsutil.Retry(func() ([]netlink.Addr, error) { return pod.AddrList(l, netlink.FAMILY_V4) })
	found := false
	for _, ad := range addrs {
		if ad.IPNet.String() == hostNet(a.IP).String() {
			found = true
		}
	}
	if !found {
		add("address %v/32 is missing from %s", a.IP, a.IfName)
	}
	routes, _ := nsutil.Retry(func() ([]netlink.Route, error) { return pod.RouteList(l, netlink.FAMILY_V4) })
	gwRoute, defRoute := false, false
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == hostNet(GatewayIP).String() && r.Scope == netlink.SCOPE_LINK {
			gwRoute = true
		}
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw != nil && r.Gw.Equal(GatewayIP.AsSlice()) {
			defRoute = true
		}
	}
	if !gwRoute {
		add("pod route %v scope link dev %s is missing", GatewayIP, a.IfName)
	}
	if !defRoute {
		add("pod route default via %v dev %s is missing", GatewayIP, a.IfName)
	}
	neighs, _ := nsutil.Retry(func() ([]netlink.Neigh, error) { return pod.NeighList(l.Attrs().Index, netlink.FAMILY_V4) })
	neighOK := false
	for _, n := range neighs {
		if n.IP.Equal(GatewayIP.AsSlice()) && n.State&netlink.NUD_PERMANENT != 0 &&
			(host == nil || n.HardwareAddr.String() == host.Attrs().HardwareAddr.String()) {
			neighOK = true
		}
	}
	if !neighOK {
		add("permanent neighbour %v → host veth MAC is missing on %s", GatewayIP, a.IfName)
	}
	return bad
}

func isGone(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT)
}
