package cniplugin

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/rpc"
)

// The datapath of a pod with a branch ENI (security groups for pods), as
// upstream's driver.go SetupBranchENIPodNetwork and
// TeardownBranchENIPodNetwork build and remove it: the pod's veth as for
// any pod; a VLAN link vlan.eth.<vlan> on the trunk ENI's link carrying the
// branch ENI's MAC, with table vlan+100 routing through the subnet gateway
// on it; then, in strict mode, `iif vlan.eth.<vlan>` and `iif <host veth>`
// rules (priority 10) into that table, so the pod's traffic only ever
// leaves and enters by its VLAN; in standard mode the address-based rules
// of any pod (512 to the pod, 1536 from it into the VLAN table).

// branchENI is what ipamd's AddNetworkReply says about the pod's branch
// ENI (PodVlanId, PodENIMAC, PodENISubnetGW, ParentIfIndex).
type branchENI struct {
	VLAN    int
	MAC     net.HardwareAddr
	Gateway netip.Addr
	Parent  int // the trunk ENI's link index in the node namespace
}

// branchFromReply validates the branch fields of ipamd's reply.
func branchFromReply(r *rpc.AddNetworkReply) (branchENI, error) {
	b := branchENI{VLAN: int(r.GetPodVlanId()), Parent: int(r.GetParentIfIndex())}
	var errs []error
	if b.VLAN < 1 || b.VLAN > 4094 {
		errs = append(errs, fmt.Errorf("PodVlanId %d is not a VLAN id (1-4094)", b.VLAN))
	}
	mac, err := net.ParseMAC(r.GetPodENIMAC())
	if err != nil {
		errs = append(errs, fmt.Errorf("PodENIMAC %q is not a MAC address", r.GetPodENIMAC()))
	}
	b.MAC = mac
	gw, err := netip.ParseAddr(r.GetPodENISubnetGW())
	if err != nil {
		errs = append(errs, fmt.Errorf("PodENISubnetGW %q is not an IP address", r.GetPodENISubnetGW()))
	}
	b.Gateway = gw.Unmap()
	if b.Parent <= 0 {
		errs = append(errs, fmt.Errorf("ParentIfIndex %d names no link (the trunk ENI's)", b.Parent))
	}
	if err := errors.Join(errs...); err != nil {
		return branchENI{}, fmt.Errorf("ipamd's branch ENI reply: %w", err)
	}
	return b, nil
}

// wireBranch is SetupBranchENIPodNetwork: the pod's veth as wirePod
// builds it for any pod, then the VLAN link, its table and the mode's
// rules. On an error nothing it built is left. a.Table is the VLAN table.
func (s *hostSide) wireBranch(a *Attachment, b branchENI, mode datapath.EnforcingMode, hook stageHook) error {
	return s.wirePod(a, hook, func(host netlink.Link, undo *undoList) error {
		// An earlier sandbox of the same pod may have left its iif rule.
		if err := deleteAllRules(s.h, iifRule(a.HostVeth, 0, familyOf(a.IP))); err != nil {
			return fmt.Errorf("remove stale rules of host veth %s: %w", a.HostVeth, err)
		}
		vlan, err := s.setupVLAN(b, a.Table)
		if err != nil {
			return err
		}
		undo.push(func() { _ = s.teardownBranch(a.IP, b.VLAN) })
		if mode == datapath.EnforcingStandard {
			return s.setupHostRouting(a, host, a.Table, undo)
		}
		return s.setupIIFRouting(a, host, vlan)
	})
}

// setupVLAN replaces any vlan.eth.<vlan> (the trunk may have changed),
// creates it on the trunk's link with the branch ENI's MAC, gives it the
// host veth's IPv6 sysctls, brings it up and routes table through the
// gateway on it (upstream setupVlan, buildRoutesForVlan).
func (s *hostSide) setupVLAN(b branchENI, table int) (netlink.Link, error) {
	name := datapath.VLANLinkName(b.VLAN)
	if old, err := s.h.LinkByName(name); err == nil {
		if err := s.h.LinkDel(old); err != nil && !isGone(err) {
			return nil, fmt.Errorf("delete old vlan link %s: %w", name, err)
		}
	}
	link := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: b.Parent, HardwareAddr: b.MAC}, VlanId: b.VLAN}
	if err := s.h.LinkAdd(link); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) {
			return nil, fmt.Errorf("add vlan link %s on link %d: %w (the kernel lacks 8021q VLAN support)", name, b.Parent, err)
		}
		return nil, fmt.Errorf("add vlan link %s on link %d: %w", name, b.Parent, err)
	}
	l, err := s.h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("vlan link %s: %w", name, err)
	}
	if err := setHostVethSysctls(name); err != nil {
		return nil, err
	}
	if err := s.h.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("vlan link %s: set up: %w", name, err)
	}
	idx := l.Attrs().Index
	for _, r := range []*netlink.Route{
		kernel.HostRoute(b.Gateway, idx, table),
		{LinkIndex: idx, Dst: kernel.PrefixNet(netip.PrefixFrom(zeroOf(b.Gateway), 0)), Gw: b.Gateway.AsSlice(), Table: table},
	} {
		if err := s.h.RouteReplace(r); err != nil {
			return nil, fmt.Errorf("route %v via %v dev %s table %d: %w", r.Dst, b.Gateway, name, table, err)
		}
	}
	return l, nil
}

// setupIIFRouting is strict mode (upstream
// setupIIFBasedContainerRouteRules): the pod's route lives in the VLAN
// table only, and both what comes in by the VLAN and what comes from the
// pod look that table up.
func (s *hostSide) setupIIFRouting(a *Attachment, host, vlan netlink.Link) error {
	if err := s.h.RouteReplace(kernel.HostRoute(a.IP, host.Attrs().Index, a.Table)); err != nil {
		return fmt.Errorf("route %v dev %s table %d: %w", a.IP, a.HostVeth, a.Table, err)
	}
	for _, dev := range []string{vlan.Attrs().Name, a.HostVeth} {
		if err := s.h.RuleAdd(iifRule(dev, a.Table, familyOf(a.IP))); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("rule iif %s lookup %d (priority %d): %w", dev, a.Table, datapath.VLANRulePriority, err)
		}
	}
	return nil
}

// iifRule is `iif dev lookup table` at the VLAN priority; dev "" or table
// 0 leave that part out (a delete then matches any).
func iifRule(dev string, table, family int) *netlink.Rule {
	r := netlink.NewRule()
	r.Family, r.Priority, r.IifName = family, datapath.VLANRulePriority, dev
	if table > 0 {
		r.Table = table
	}
	return r
}

// teardownBranch is TeardownBranchENIPodNetwork: the VLAN link, the
// priority-10 rules of the VLAN table and the address rules of either mode
// (the pod may have been set up under the other one), then the main
// table's route to the pod. Each piece may be gone already.
func (s *hostSide) teardownBranch(ip netip.Addr, vlan int) error {
	var errs []error
	name := datapath.VLANLinkName(vlan)
	if l, err := s.h.LinkByName(name); err == nil {
		if err := s.h.LinkDel(l); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("delete vlan link %s: %w", name, err))
		}
	}
	table := datapath.VLANTable(vlan)
	fam := netlink.FAMILY_V4
	if ip.IsValid() {
		fam = familyOf(ip)
	}
	errs = append(errs, deleteAllRules(s.h, iifRule("", table, fam)))
	if ip.IsValid() {
		errs = append(errs, removePodRules(s.h, ip))
		err := s.h.RouteDel(&netlink.Route{Dst: kernel.HostNet(ip), Scope: netlink.SCOPE_LINK, Table: datapath.MainTable})
		if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete route %v: %w", ip, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tear down branch ENI datapath of VLAN %d: %w", vlan, err)
	}
	return nil
}

// zeroOf is the unspecified address of ip's family.
func zeroOf(ip netip.Addr) netip.Addr {
	if ip.Is6() {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// checkBranch is CHECK of a branch ENI pod: the pod side and host veth as
// for any pod, the VLAN link (up, on a parent, the VLAN id prevResult
// names), its table's routes through the gateway and the mode's rules.
func (s *hostSide) checkBranch(a Attachment, mode datapath.EnforcingMode, mtu int) []string {
	var bad findings
	table := datapath.VLANTable(a.VLAN)
	host, err := s.h.LinkByName(a.HostVeth)
	if err != nil {
		bad.add("host veth %s is missing from the node namespace", a.HostVeth)
		host = nil
	} else if host.Attrs().Flags&net.FlagUp == 0 {
		bad.add("host veth %s is down", a.HostVeth)
	}
	name := datapath.VLANLinkName(a.VLAN)
	l, err := s.h.LinkByName(name)
	switch {
	case err != nil:
		bad.add("vlan link %s is missing from the node namespace", name)
	case l.Type() != "vlan" || l.(*netlink.Vlan).VlanId != a.VLAN:
		bad.add("link %s is not a VLAN link with id %d", name, a.VLAN)
	case l.Attrs().Flags&net.FlagUp == 0:
		bad.add("vlan link %s is down", name)
	default:
		routes, _ := nsutil.Retry(func() ([]netlink.Route, error) {
			return s.h.RouteListFiltered(familyOf(a.IP), &netlink.Route{Table: table, LinkIndex: l.Attrs().Index}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_OIF)
		})
		if !slices.ContainsFunc(routes, func(r netlink.Route) bool { return r.Gw != nil }) {
			bad.add("table %d has no default route via the subnet gateway on %s", table, name)
		}
	}
	if mode == datapath.EnforcingStandard {
		if host != nil {
			bad = append(bad, s.check(a, table, mtu)...)
		}
	} else {
		for _, dev := range []string{name, a.HostVeth} {
			if ok, err := kernel.RuleExists(s.h, iifRule(dev, table, familyOf(a.IP))); err != nil || !ok {
				bad.add("rule \"iif %s lookup %d\" (priority %d) is missing", dev, table, datapath.VLANRulePriority)
			}
		}
		checkPodSide(a, mtu, host, &bad)
	}
	return bad
}
