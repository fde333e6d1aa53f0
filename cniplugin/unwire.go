package cniplugin

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
)

// unwire removes what wire built for one attachment (a failed ADD, GC),
// tolerating every piece being gone already: the pod's link is deleted from
// inside its namespace, which takes the host end with it, then the route and
// rules. A host veth whose pod namespace is gone goes with that namespace;
// one of the same name may belong to a newer sandbox of the pod, so it is
// never deleted by name.
func (s *hostSide) unwire(a Attachment) error {
	var errs []error
	if a.Netns != "" && a.IfName != "" {
		if pod, err := nsutil.Handle(a.Netns); err == nil {
			if l, err := pod.LinkByName(a.IfName); err == nil {
				if err := pod.LinkDel(l); err != nil && !isGone(err) {
					errs = append(errs, fmt.Errorf("delete %s in %s: %w", a.IfName, a.Netns, err))
				}
			}
			pod.Close()
		}
	}
	if a.VLAN != 0 {
		errs = append(errs, s.teardownBranch(a.IP, a.VLAN))
	} else {
		errs = append(errs, s.unroute(a))
	}
	return errors.Join(errs...)
}

// unroute removes the pod's host route and its 512 and 1536 rules, what
// upstream's TeardownPodNetwork removes (links are left to the runtime's
// removal of the netns). Rules and route of an address that another link
// routes already belong to a newer pod and stay.
func (s *hostSide) unroute(a Attachment) error {
	if !a.IP.IsValid() || ownedElsewhere(s.h, a.IP, a.HostVeth) {
		return nil
	}
	var errs []error
	if err := s.h.RouteDel(&netlink.Route{Dst: kernel.HostNet(a.IP), Scope: netlink.SCOPE_LINK, Table: datapath.MainTable}); err != nil &&
		!errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("delete host route %v/%d: %w", a.IP, hostPrefixLen(a.IP), err))
	}
	if err := removePodRules(s.h, a.IP); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removePodRules deletes every 512 `to ip` and 1536 `from ip` rule, of any
// table. Each is a delete by priority and address with no table, which the
// kernel matches against rules of every table, repeated until it finds none
// — no dump of the node's rules, which grow with its pods.
func removePodRules(h *netlink.Handle, ip netip.Addr) error {
	to := netlink.NewRule()
	to.Family, to.Priority, to.Dst = familyOf(ip), datapath.ToPodRulePriority, kernel.HostNet(ip)
	from := netlink.NewRule()
	from.Family, from.Priority, from.Src = familyOf(ip), datapath.FromPodRulePriority, kernel.HostNet(ip)
	return errors.Join(deleteAllRules(h, to), deleteAllRules(h, from))
}

// maxRuleDeletes bounds deleteAllRules: far more copies of one rule than
// anything ever adds.
const maxRuleDeletes = 64

func deleteAllRules(h *netlink.Handle, r *netlink.Rule) error {
	for range maxRuleDeletes {
		err := h.RuleDel(r)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("delete rule %v: %w", r, err)
		}
	}
	return fmt.Errorf("delete rule %v: still present after %d deletions", r, maxRuleDeletes)
}

// ownedElsewhere reports whether another link than hostVeth routes ip: the
// address already belongs to a newer pod, whose rules must stay.
func ownedElsewhere(h *netlink.Handle, ip netip.Addr, hostVeth string) bool {
	routes, err := nsutil.Retry(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(familyOf(ip), &netlink.Route{Dst: kernel.HostNet(ip), Table: datapath.MainTable},
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
