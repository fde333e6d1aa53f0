package netsetup

import (
	"fmt"
	"net/netip"
)

// The chains, comments and marks are upstream's (pkg/networkutils
// network.go and iptables_connmark.go, v1.23.1).
const (
	// SNATChain holds the VPC and excluded CIDRs (RETURN) and, last, the
	// SNAT to the primary ENI's address.
	SNATChain = "AWS-SNAT-CHAIN-0"
	// ConnmarkChain marks new connections from pods to outside the VPC.
	ConnmarkChain = "AWS-CONNMARK-CHAIN-0"
	// defaultRouteCIDR as an exclusion is written without -d: the kernel
	// strips "-d 0.0.0.0/0" and the rule would never be found again.
	defaultRouteCIDR = "0.0.0.0/0"
)

// iptRule is upstream's iptablesRule: a rule that should or should not be
// in table/chain.
type iptRule struct {
	name         string
	shouldExist  bool
	table, chain string
	spec         []string
}

func (r iptRule) String() string {
	return fmt.Sprintf("%s/%s rule %s shouldExist %v rule %v", r.table, r.chain, r.name, r.shouldExist, r.spec)
}

// snatRules is the pure part of upstream's buildIptablesSNATRules: the
// POSTROUTING jump, one RETURN per VPC CIDR then per excluded CIDR (each
// inserted at the top, so they end up in reverse order), and the SNAT rule
// that must stay last. With external SNAT none of them should exist.
// randomFully is whether iptables knows --random-fully (prng falls back
// to --random without it, as upstream).
func snatRules(s SNAT, vpcCIDRs []string, primaryIP netip.Addr, randomFully bool) (head []iptRule, last iptRule) {
	want := !s.External
	head = append(head, iptRule{
		name: "first SNAT rules for non-VPC outbound traffic", shouldExist: want, table: "nat", chain: "POSTROUTING",
		spec: []string{"-m", "comment", "--comment", "AWS SNAT CHAIN", "-j", SNATChain},
	})
	add := func(cidr, comment string, exclusion bool) {
		spec := []string{"-d", cidr, "-m", "comment", "--comment", comment, "-j", "RETURN"}
		if exclusion && cidr == defaultRouteCIDR {
			spec = []string{"-m", "comment", "--comment", comment, "-j", "RETURN"}
		}
		head = append(head, iptRule{name: SNATChain, shouldExist: want, table: "nat", chain: SNATChain, spec: spec})
	}
	for _, c := range vpcCIDRs {
		add(c, "AWS SNAT CHAIN", false)
	}
	for _, c := range s.ExcludeCIDRs {
		add(c, "AWS SNAT CHAIN EXCLUSION", true)
	}
	spec := []string{"!", "-o", "vlan+", "-m", "comment", "--comment", "AWS, SNAT",
		"-m", "addrtype", "!", "--dst-type", "LOCAL", "-j", "SNAT", "--to-source", primaryIP.String()}
	switch s.randomize() {
	case RandomHash:
		spec = append(spec, "--random")
	case RandomPRNG:
		if randomFully {
			spec = append(spec, "--random-fully")
		} else {
			spec = append(spec, "--random")
		}
	}
	last = iptRule{name: "last SNAT rule for non-VPC outbound traffic", shouldExist: want, table: "nat", chain: SNATChain, spec: spec}
	return head, last
}

// mangleRules are the last three rules of upstream's
// buildIptablesSNATRules: connections arriving through the primary ENI
// for a local address get the mark, and packets from pods (veths and
// branch VLANs) take the connection's mark back, so replies leave through
// the primary ENI (the fwmark rule).
func mangleRules(s SNAT, primaryIntf string) []iptRule {
	mark := s.connmark()
	return []iptRule{
		{name: "connmark for primary ENI", shouldExist: s.NodePortSupport, table: "mangle", chain: "PREROUTING",
			spec: []string{"-m", "comment", "--comment", "AWS, primary ENI", "-i", primaryIntf,
				"-m", "addrtype", "--dst-type", "LOCAL", "--limit-iface-in",
				"-j", "CONNMARK", "--set-mark", fmt.Sprintf("%#x/%#x", mark, mark)}},
		{name: "connmark restore for primary ENI", shouldExist: s.NodePortSupport || !s.External, table: "mangle", chain: "PREROUTING",
			spec: []string{"-m", "comment", "--comment", "AWS, primary ENI",
				"-i", s.vethPrefix() + "+", "-j", "CONNMARK", "--restore-mark", "--mask", fmt.Sprintf("%#x", mark)}},
		{name: "connmark restore for primary ENI from vlan", shouldExist: s.NodePortSupport, table: "mangle", chain: "PREROUTING",
			spec: []string{"-m", "comment", "--comment", "AWS, primary ENI",
				"-i", "vlan+", "-j", "CONNMARK", "--restore-mark", "--mask", fmt.Sprintf("%#x", mark)}},
	}
}

// buildSNATRules is upstream's buildIptablesSNATRules: it creates
// AWS-SNAT-CHAIN-0 (even with external SNAT, where it stays empty) and
// lists the rules to apply, the ones found in the chain and no longer
// wanted marked for deletion just before the SNAT rule, which is thus
// deleted and appended again after the RETURNs.
func buildSNATRules(ipt iptablesAPI, s SNAT, vpcCIDRs []string, primaryIP netip.Addr, primaryIntf string) ([]iptRule, error) {
	if err := ipt.NewChain("nat", SNATChain); err != nil && !chainExistErr(err) {
		return nil, fmt.Errorf("failed to add chain %s: %w", SNATChain, err)
	}
	rules, last := snatRules(s, vpcCIDRs, primaryIP, ipt.HasRandomFully())
	stale, err := staleRules(ipt, "nat", "AWS-SNAT-CHAIN", rules, []string{SNATChain})
	if err != nil {
		return nil, err
	}
	rules = append(append(rules, stale...), last)
	return append(rules, mangleRules(s, primaryIntf)...), nil
}

// applyRules is upstream's updateIptablesRules (and iptablesConnmark's
// applyRules): a missing wanted rule is added — CIDR rules at the top of
// their chain, others at the end — and a present unwanted one deleted.
func applyRules(ipt iptablesAPI, rules []iptRule) error {
	for _, r := range rules {
		exists, err := ipt.Exists(r.table, r.chain, r.spec...)
		if err != nil {
			return fmt.Errorf("failed to check existence of %v: %w", r, err)
		}
		switch {
		case !exists && r.shouldExist && (r.name == SNATChain || r.name == ConnmarkChain):
			err = ipt.Insert(r.table, r.chain, 1, r.spec...)
		case !exists && r.shouldExist:
			err = ipt.Append(r.table, r.chain, r.spec...)
		case exists && !r.shouldExist:
			err = ipt.Delete(r.table, r.chain, r.spec...)
		}
		if err != nil {
			return fmt.Errorf("failed to apply %v: %w", r, err)
		}
	}
	return nil
}
