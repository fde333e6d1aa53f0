package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/google/nftables"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/nsutil"
)

// rootSnapshot is what a lab must never change in the machine's root
// namespace: links (a fabric peer created on the wrong side would be named
// without the lab prefix, so Leftovers would miss it), addresses, routes of
// every table, policy rules and the forwarding/filtering sysctls.
func rootSnapshot() ([]string, error) {
	var out []string
	links, err := nsutil.Retry(netlink.LinkList)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		out = append(out, fmt.Sprintf("link %s type %s", l.Attrs().Name, l.Type()))
	}
	addrs, err := nsutil.Retry(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, unix.AF_UNSPEC) })
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		out = append(out, fmt.Sprintf("addr %s link %d", a.IPNet, a.LinkIndex))
	}
	routes, err := nsutil.Retry(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(unix.AF_UNSPEC, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		out = append(out, fmt.Sprintf("route table %d dst %v gw %v dev %d", r.Table, r.Dst, r.Gw, r.LinkIndex))
	}
	rules, err := nsutil.Retry(func() ([]netlink.Rule, error) { return netlink.RuleList(unix.AF_UNSPEC) })
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		out = append(out, "rule "+r.String())
	}
	egress, err := rootEgressState()
	if err != nil {
		return nil, err
	}
	out = append(out, egress...)
	for _, k := range []string{"net/ipv4/ip_forward", "net/ipv4/conf/all/rp_filter", "net/ipv4/conf/default/rp_filter", "net/ipv4/conf/all/proxy_arp"} {
		b, err := os.ReadFile("/proc/sys/" + k)
		if err != nil {
			return nil, err
		}
		out = append(out, k+"="+strings.TrimSpace(string(b)))
	}
	sort.Strings(out)
	return out, nil
}

// rootEgressState is the egress fabric's kind of state, were it ever made
// in the root namespace: nft tables (by name) and conntrack entries to or
// from the lab's internet (TEST-NET-2 and -3, RFC 5737).
func rootEgressState() ([]string, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	tables, err := c.ListTables()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range tables {
		out = append(out, fmt.Sprintf("nft table %d %s", t.Family, t.Name))
	}
	flows, err := netlink.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil {
		return out, nil // no conntrack in this kernel: nothing can be left there
	}
	labNets := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), fakeec2.PublicPool}
	for _, f := range flows {
		for _, ip := range []net.IP{f.Forward.SrcIP, f.Forward.DstIP, f.Reverse.SrcIP, f.Reverse.DstIP} {
			a, _ := netip.AddrFromSlice(ip)
			if slices.ContainsFunc(labNets, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) }) {
				out = append(out, "conntrack "+f.String())
				break
			}
		}
	}
	return out, nil
}

var rootBefore []string

var _ = BeforeSuite(func() {
	if !nsutil.IsRoot() {
		return
	}
	var err error
	rootBefore, err = rootSnapshot()
	Expect(err).NotTo(HaveOccurred())
})

func expectRootUnchanged() {
	if rootBefore == nil {
		return
	}
	after, err := rootSnapshot()
	Expect(err).NotTo(HaveOccurred())
	Expect(after).To(Equal(rootBefore), "the root namespace's links, addresses, routes, rules and sysctls are unchanged")
}
