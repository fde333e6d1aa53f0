package cniplugin

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
)

// stageHook is called at named points of the setup; an error aborts it as a
// real failure would (the test hook of failure injection).
type stageHook func(stage string) error

// undoList holds the steps that take back what wire built so far.
type undoList []func()

func (u *undoList) push(f func()) { *u = append(*u, f) }

// run undoes in reverse order.
func (u undoList) run() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}

// hostVethSysctls are the IPv6 settings upstream gives every host veth
// before it comes up (driver.go setHostVethV6Sysctls), so the host end
// never accepts a router advertisement from the pod side.
var hostVethSysctls = []struct{ key, value string }{
	{"accept_ra", "0"},
	{"accept_redirects", "1"},
	{"forwarding", "0"},
}

// setHostVethSysctls writes hostVethSysctls for the named link of the
// plugin's own (the node's) namespace. A kernel without IPv6 has no such
// files, which upstream ignores too.
func setHostVethSysctls(name string) error {
	for _, s := range hostVethSysctls {
		path := "/proc/sys/net/ipv6/conf/" + name + "/" + s.key
		if err := os.WriteFile(path, []byte(s.value), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("host veth %s: set %s=%s: %w", name, s.key, s.value, err)
		}
	}
	return nil
}

// wire builds everything DESIGN §4 lists for a pod: its veth (wirePod)
// routed by the host /32 route and the address rules into table.
func (s *hostSide) wire(a *Attachment, table int, hook stageHook) error {
	return s.wirePod(a, hook, func(host netlink.Link, undo *undoList) error {
		return s.setupHostRouting(a, host, table, undo)
	})
}

// wirePod builds a pod's veth pair and pod side (upstream's
// createVethPairContext.run), then calls route for the node side's
// routing, and undoes whatever it built if any step fails. a.HostVeth,
// IfName, Netns, IP, MTU are inputs; the MACs are filled in.
func (s *hostSide) wirePod(a *Attachment, hook stageHook, route func(host netlink.Link, undo *undoList) error) error {
	pod, err := nsutil.Handle(a.Netns)
	if err != nil {
		return fmt.Errorf("pod namespace %s: %w", a.Netns, err)
	}
	defer pod.Close()

	// Undone on an error return and on a panic passing through alike.
	var undo undoList
	wired := false
	defer func() {
		if !wired {
			undo.run()
		}
	}()

	if err := s.clearStaleVeth(pod, a); err != nil {
		return err
	}
	if err := s.createVeth(pod, a); err != nil {
		return err
	}
	undo.push(func() { s.deleteVeth(pod, a) })
	if err := hook("veth"); err != nil {
		return err
	}
	host, err := s.setupHostVeth(a)
	if err != nil {
		return err
	}
	if err := setupPodSide(pod, a, host.Attrs().HardwareAddr); err != nil {
		return err
	}
	if err := hook("pod"); err != nil {
		return err
	}
	if err := route(host, &undo); err != nil {
		return err
	}
	if err := hook("host"); err != nil {
		return err
	}
	wired = true
	return nil
}

// clearStaleVeth removes a host veth of this name left from an earlier
// sandbox of the same pod (or an earlier attempt), as upstream does, and
// refuses a pod that already has the interface.
func (s *hostSide) clearStaleVeth(pod *netlink.Handle, a *Attachment) error {
	if old, lerr := s.h.LinkByName(a.HostVeth); lerr == nil {
		if derr := s.h.LinkDel(old); derr != nil && !isGone(derr) {
			return fmt.Errorf("remove stale host veth %s: %w", a.HostVeth, derr)
		}
	}
	if _, lerr := pod.LinkByName(a.IfName); lerr == nil {
		return fmt.Errorf("interface %s already exists in %s", a.IfName, a.Netns)
	}
	return nil
}

// createVeth creates the pair inside the pod namespace with the host end
// placed directly in the node namespace.
func (s *hostSide) createVeth(pod *netlink.Handle, a *Attachment) error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: a.IfName, MTU: a.MTU},
		PeerName:      a.HostVeth,
		PeerNamespace: netlink.NsFd(int(s.ns.Fd())),
		PeerMTU:       uint32(a.MTU),
	}
	if err := pod.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s (pod) / %s (node): %w", a.IfName, a.HostVeth, err)
	}
	return nil
}

// deleteVeth removes both ends, whichever still exist.
func (s *hostSide) deleteVeth(pod *netlink.Handle, a *Attachment) {
	if l, err := s.h.LinkByName(a.HostVeth); err == nil {
		_ = s.h.LinkDel(l)
	}
	if l, err := pod.LinkByName(a.IfName); err == nil {
		_ = pod.LinkDel(l)
	}
}

// setupHostVeth sets the host end's IPv6 sysctls and brings it up, as
// upstream's createVethPairContext.run does: no address, no alias.
// a.HostMAC is filled in.
func (s *hostSide) setupHostVeth(a *Attachment) (netlink.Link, error) {
	host, err := s.h.LinkByName(a.HostVeth)
	if err != nil {
		return nil, fmt.Errorf("host veth %s: %w", a.HostVeth, err)
	}
	a.HostMAC = host.Attrs().HardwareAddr.String()
	if err := setHostVethSysctls(a.HostVeth); err != nil {
		return nil, err
	}
	if err := s.h.LinkSetUp(host); err != nil {
		return nil, fmt.Errorf("host veth %s: set up: %w", a.HostVeth, err)
	}
	return host, nil
}

// setupPodSide gives the pod's interface its /32 or /128, the routes
// through the link-local gateway (169.254.1.1 or fe80::1) and the
// permanent neighbour entry gateway → hostMAC, as upstream's setupVeth;
// a.PodMAC is filled in. For IPv6 it first enables IPv6 on the interface
// and lo, and adds the address without duplicate address detection
// (IFA_F_NODAD) where upstream waits up to 10 s for it to finish: on a
// veth with one peer it cannot find a duplicate.
func setupPodSide(pod *netlink.Handle, a *Attachment, hostMAC net.HardwareAddr) error {
	fam, flags := familyOf(a.IP), 0
	if fam == netlink.FAMILY_V6 {
		if err := enablePodIPv6(a.Netns, a.IfName); err != nil {
			return err
		}
		flags = unix.IFA_F_NODAD
	}
	podLink, err := pod.LinkByName(a.IfName)
	if err != nil {
		return fmt.Errorf("pod %s: %w", a.IfName, err)
	}
	a.PodMAC = podLink.Attrs().HardwareAddr.String()
	if err := pod.LinkSetUp(podLink); err != nil {
		return fmt.Errorf("pod %s: set up: %w", a.IfName, err)
	}
	if err := pod.AddrAdd(podLink, &netlink.Addr{IPNet: kernel.HostNet(a.IP), Flags: flags}); err != nil {
		return fmt.Errorf("pod %s: add %v/%d: %w", a.IfName, a.IP, hostPrefixLen(a.IP), err)
	}
	podIdx := podLink.Attrs().Index
	gw := gatewayOf(a.IP)
	for _, r := range []*netlink.Route{
		kernel.HostRoute(gw, podIdx, 0),
		{LinkIndex: podIdx, Dst: kernel.PrefixNet(netip.PrefixFrom(zeroOf(gw), 0)), Gw: gw.AsSlice()},
	} {
		if err := pod.RouteReplace(r); err != nil {
			return fmt.Errorf("pod %s: route %v: %w", a.IfName, r.Dst, err)
		}
	}
	if err := pod.NeighSet(&netlink.Neigh{
		LinkIndex: podIdx, Family: fam, State: netlink.NUD_PERMANENT,
		IP: gw.AsSlice(), HardwareAddr: hostMAC,
	}); err != nil {
		return fmt.Errorf("pod %s: neighbour %v: %w", a.IfName, gw, err)
	}
	return nil
}

// setupHostRouting installs the host /32 route to the pod and its rules:
// `to ip lookup main` and, for a table other than main (a secondary ENI),
// `from ip lookup table` (upstream setupIPBasedContainerRouteRules). Rules left for this address by an earlier owner
// would misroute it, so they go first.
func (s *hostSide) setupHostRouting(a *Attachment, host netlink.Link, table int, undo *undoList) error {
	if err := s.h.RouteReplace(kernel.HostRoute(a.IP, host.Attrs().Index, 0)); err != nil {
		return fmt.Errorf("host route %v/32 dev %s: %w", a.IP, a.HostVeth, err)
	}
	if err := removePodRules(s.h, a.IP); err != nil {
		return fmt.Errorf("remove stale rules of %v: %w", a.IP, err)
	}
	undo.push(func() { _ = removePodRules(s.h, a.IP) })
	if err := s.h.RuleAdd(kernel.ToPodRule(a.IP)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("rule to %v lookup main (priority %d): %w", a.IP, datapath.ToPodRulePriority, err)
	}
	if table != datapath.MainTable {
		if err := s.h.RuleAdd(kernel.FromPodRule(a.IP, table)); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("rule from %v lookup %d (priority %d): %w", a.IP, table, datapath.FromPodRulePriority, err)
		}
	}
	return nil
}
