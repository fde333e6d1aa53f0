package node

import (
	"fmt"
	"maps"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// SourceCheckV6Table is the VPC namespace's nftables table holding EC2's
// source/destination check for IPv6 (`nft list ruleset` there shows it):
// IPv6 has no rp_filter, so a packet from an ENI whose source the VPC does
// not route back to that ENI is dropped by a fib lookup, except from ENIs
// whose SourceDestCheck is off.
const SourceCheckV6Table = "enilab-srccheck6"

// setSourceCheckV6 records the check of one peer and rebuilds the table
// when that changed. Called with f.mu held.
func (f *fabric) setSourceCheckV6(peerName string, on bool) error {
	if f.noCheckV6 == nil {
		f.noCheckV6 = map[string]bool{}
	}
	if f.builtV6 && f.noCheckV6[peerName] == !on {
		return nil
	}
	if on {
		delete(f.noCheckV6, peerName)
	} else {
		f.noCheckV6[peerName] = true
	}
	return f.writeSourceCheckV6()
}

// writeSourceCheckV6 replaces the table in one netlink batch: accept from
// the peers without the check, then `fib saddr . iif oif missing drop`.
func (f *fabric) writeSourceCheckV6() error {
	if err := replaceTableAt(f.path, SourceCheckV6Table, nftables.TableFamilyIPv6, f.sourceCheckV6Rules); err != nil {
		return fmt.Errorf("node: IPv6 source/destination check: %w", err)
	}
	f.builtV6 = true
	return nil
}

// sourceCheckV6Rules fills the IPv6 source check table t.
func (f *fabric) sourceCheckV6Rules(c *nftables.Conn, t *nftables.Table) {
	ch := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityFilter})
	for _, peer := range slices.Sorted(maps.Keys(f.noCheckV6)) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: concat(ifIs(true, peer), []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}})})
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Fib{Register: 1, FlagSADDR: true, FlagIIF: true, ResultOIF: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 0, 0, 0}},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
}
