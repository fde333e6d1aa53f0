// Package kernel is the netlink side of package datapath: the routes and
// policy rules of the contract, built once as netlink values, so the CNI
// plugin, ipamd's node networking and the lab's nodes install, delete and
// compare the very same objects. It builds and compares; it does not choose
// a namespace (callers pass a handle bound to one). datapath stays free of
// netlink so the scenario runner can use it without linking this package.
package kernel

import (
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/nsutil"
)

// HostNet is the single-address prefix of a (/32 for IPv4, /128 for IPv6).
func HostNet(a netip.Addr) *net.IPNet {
	return PrefixNet(netip.PrefixFrom(a, a.BitLen()))
}

// PrefixNet converts p to the type netlink speaks.
func PrefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// HostRoute is `<ip>/32 dev <link> scope link` in table (0: main): the route
// to a pod through its host veth, or to a subnet gateway through its ENI.
func HostRoute(ip netip.Addr, linkIndex, table int) *netlink.Route {
	return &netlink.Route{LinkIndex: linkIndex, Dst: HostNet(ip), Scope: netlink.SCOPE_LINK, Table: table}
}

// ToPodRule is `to <ip>/32 lookup main` at datapath.ToPodRulePriority:
// traffic to a pod is routed by main (its host route) whatever other rules
// say.
func ToPodRule(ip netip.Addr) *netlink.Rule {
	r := newRule(datapath.ToPodRulePriority, datapath.MainTable)
	r.Dst = HostNet(ip)
	r.Family = familyOf(ip)
	return r
}

// FromPodRule is `from <ip>/32 lookup <table>` at
// datapath.FromPodRulePriority: a secondary-ENI pod's traffic leaves through
// its own ENI.
func FromPodRule(ip netip.Addr, table int) *netlink.Rule {
	r := newRule(datapath.FromPodRulePriority, table)
	r.Src = HostNet(ip)
	r.Family = familyOf(ip)
	return r
}

// ENIRule is `from <ENI primary ip>/32 lookup <table>` at
// datapath.ENIRulePriority.
func ENIRule(ip netip.Addr, table int) *netlink.Rule {
	r := newRule(datapath.ENIRulePriority, table)
	r.Src = HostNet(ip)
	return r
}

// FwmarkRule is `fwmark 0x80/0x80 lookup main` at
// datapath.FwmarkRulePriority: connections that arrived through the primary
// ENI answer through it.
func FwmarkRule() *netlink.Rule {
	mask := uint32(datapath.ConnMark)
	r := newRule(datapath.FwmarkRulePriority, datapath.MainTable)
	r.Mark = datapath.ConnMark
	r.Mask = &mask
	return r
}

func newRule(priority, table int) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = netlink.FAMILY_V4
	r.Priority = priority
	r.Table = table
	return r
}

// RuleExists reports whether a rule equal to want (SameRule) is installed in
// h's namespace.
func RuleExists(h *netlink.Handle, want *netlink.Rule) (bool, error) {
	rules, err := nsutil.Retry(func() ([]netlink.Rule, error) { return h.RuleList(want.Family) })
	if err != nil {
		return false, err
	}
	for _, r := range rules {
		if SameRule(r, *want) {
			return true, nil
		}
	}
	return false, nil
}

// SameRule compares the fields the datapath's rules use: priority, table,
// source, destination, input interface and mark/mask. The kernel reports a rule back with
// fields (family, a default mask, an all-zero prefix) that differ from how
// it was built, so rules are never compared with ==.
func SameRule(a, b netlink.Rule) bool {
	if a.Priority != b.Priority || a.Table != b.Table || a.Mark != b.Mark || a.IifName != b.IifName {
		return false
	}
	if netString(a.Src) != netString(b.Src) || netString(a.Dst) != netString(b.Dst) {
		return false
	}
	return maskOf(a) == maskOf(b)
}

func maskOf(r netlink.Rule) uint32 {
	if r.Mask == nil {
		if r.Mark != 0 {
			return 0xffffffff
		}
		return 0
	}
	return *r.Mask
}

func netString(n *net.IPNet) string {
	if n == nil || n.IP == nil {
		return ""
	}
	ones, _ := n.Mask.Size()
	if ones == 0 && n.IP.IsUnspecified() {
		return ""
	}
	return n.String()
}

// familyOf is the netlink family of a pod address (IPv6 pods in IPv6 mode).
func familyOf(ip netip.Addr) int {
	if ip.Is6() && !ip.Is4In6() {
		return netlink.FAMILY_V6
	}
	return netlink.FAMILY_V4
}
