package netsetup

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath/kernel"
)

// ensureRule adds rule unless an equal one (kernel.SameRule) is installed.
func ensureRule(h *netlink.Handle, rule *netlink.Rule) error {
	ok, err := kernel.RuleExists(h, rule)
	if err != nil {
		return fmt.Errorf("list rules: %w", err)
	}
	if ok {
		return nil
	}
	if err := h.RuleAdd(rule); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

// deleteRule removes rule and any duplicates of it; a missing rule is not
// an error.
func deleteRule(h *netlink.Handle, rule *netlink.Rule) error {
	for range 8 { // duplicates can exist; remove them all
		err := h.RuleDel(rule)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// moveLocalRule is upstream's ChangeLocalRulePriority step of
// SetupHostNetwork: `lookup local` added at LocalRulePriority, then the
// kernel's priority-0 one deleted. Either may be done already.
func moveLocalRule(h *netlink.Handle, family int) error {
	r := netlink.NewRule()
	r.Table, r.Priority, r.Family = unix.RT_TABLE_LOCAL, LocalRulePriority, family
	if err := ensureRule(h, r); err != nil {
		return fmt.Errorf("ChangeLocalRulePriority: unable to update local rule priority: %w", err)
	}
	r.Priority = 0
	if err := deleteRule(h, r); err != nil {
		return fmt.Errorf("ChangeLocalRulePriority: failed to delete priority 0 local rule: %w", err)
	}
	return nil
}

// ipv6Gateway is the VPC router's link-local address as the node sees it
// (upstream's GetIPv6Gateway).
var ipv6Gateway = netip.MustParseAddr("fe80:ec2::1")

// ipv6GatewayRule is upstream's createIPv6GatewayRule: in strict mode,
// ICMPv6 from the VPC router (its neighbour and router discovery) still
// looks up the local table first, at priority 0, now that `lookup local`
// sits at LocalRulePriority below the branch pods' VLAN rules.
func ipv6GatewayRule() *netlink.Rule {
	r := netlink.NewRule()
	r.Src = kernel.HostNet(ipv6Gateway)
	r.IPProto = unix.IPPROTO_ICMPV6
	r.Table, r.Priority, r.Family = unix.RT_TABLE_LOCAL, 0, unix.AF_INET6
	return r
}
