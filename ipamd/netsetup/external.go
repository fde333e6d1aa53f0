package netsetup

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

// ExternalServiceRulePriority is upstream's externalServiceIpRulePriority:
// `to <cidr> lookup main` for AWS_EXTERNAL_SERVICE_CIDRS, before the pods'
// `from <pod> lookup <ENI table>` rules (1536), so such destinations are
// reached through the primary ENI from every pod.
const ExternalServiceRulePriority = 1535

// UpdateExternalServiceRules is upstream's UpdateExternalServiceIpRules in
// the node namespace at nsPath: every rule at priority 1535 looking up
// main is deleted, then `to <cidr> lookup main` is added for each CIDR.
func UpdateExternalServiceRules(nsPath string, cidrs []string) error {
	var prefixes []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil || !p.Addr().Is4() {
			return fmt.Errorf("netsetup: external service CIDR %q is not an IPv4 prefix", c)
		}
		prefixes = append(prefixes, p.Masked())
	}
	h, err := nsutil.Handle(nsPath)
	if err != nil {
		return fmt.Errorf("netsetup: %w", err)
	}
	defer h.Close()
	rules, err := nsutil.Retry(func() ([]netlink.Rule, error) { return h.RuleList(netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("netsetup: external service rules: list rules: %w", err)
	}
	for _, r := range rules {
		if r.Priority == ExternalServiceRulePriority && r.Table == datapath.MainTable {
			if err := h.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("netsetup: external service rules: failed to delete old rule %v: %w", r, err)
			}
		}
	}
	for _, p := range prefixes {
		r := netlink.NewRule()
		r.Family, r.Table, r.Priority, r.Dst = netlink.FAMILY_V4, datapath.MainTable, ExternalServiceRulePriority, kernel.PrefixNet(p)
		if err := h.RuleAdd(r); err != nil {
			return fmt.Errorf("netsetup: external service rules: failed to add rule to %v lookup main: %w", p, err)
		}
	}
	return nil
}
