package netsetup

import (
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// currentRules is upstream's listCurrentIptablesRules: every rule of the
// chains of table whose name starts with prefix, as `iptables -S` prints
// it, parsed back into a spec (the chain's own -N line gives an empty one).
func currentRules(ipt iptablesAPI, table, prefix string) ([]iptRule, error) {
	chains, err := ipt.ListChains(table)
	if err != nil {
		return nil, fmt.Errorf("failed to list iptables %s chains: %w", table, err)
	}
	var out []iptRule
	for _, chain := range chains {
		if !strings.HasPrefix(chain, prefix) {
			continue
		}
		lines, err := ipt.List(table, chain)
		if err != nil {
			return nil, fmt.Errorf("failed to list iptables %s chain %s: %w", table, chain, err)
		}
		for i, line := range lines {
			r := csv.NewReader(strings.NewReader(line))
			r.Comma = ' '
			fields, err := r.Read()
			if err != nil || len(fields) < 2 {
				return nil, fmt.Errorf("failed to parse iptables %s chain %s rule %s: %v", table, chain, line, err)
			}
			out = append(out, iptRule{name: fmt.Sprintf("[%d] %s", i, chain), table: table, chain: chain, spec: fields[2:]})
		}
	}
	return out, nil
}

// staleRules is upstream's computeStaleIptablesRules: the rules found in
// the prefix's chains that none of want has (same chain, same spec), to be
// deleted. The -N line of an active chain is kept.
func staleRules(ipt iptablesAPI, table, prefix string, want []iptRule, active []string) ([]iptRule, error) {
	found, err := currentRules(ipt, table, prefix)
	if err != nil {
		return nil, err
	}
	var stale []iptRule
	for _, f := range found {
		if len(f.spec) == 0 && slices.Contains(active, f.chain) {
			continue
		}
		if !slices.ContainsFunc(want, func(w iptRule) bool { return w.chain == f.chain && slices.Equal(w.spec, f.spec) }) {
			stale = append(stale, f)
		}
	}
	return stale, nil
}

// cleanUpStaleChains is upstream's CleanUpStaleAWSChains: when
// AWS-SNAT-CHAIN-1 exists (left by a VPC CNI before 1.11, which used one
// chain per CIDR), every AWS-SNAT-CHAIN-N and AWS-CONNMARK-CHAIN-N with
// N > 0 in the nat table is deleted. SetupHost runs it.
func cleanUpStaleChains(ipt iptablesAPI) error {
	exists, err := ipt.ChainExists("nat", "AWS-SNAT-CHAIN-1")
	if err != nil || !exists {
		return wrapIf(err, "failed to check if AWS-SNAT-CHAIN-1 exists")
	}
	chains, err := ipt.ListChains("nat")
	if err != nil {
		return fmt.Errorf("failed to list iptables nat chains: %w", err)
	}
	for _, chain := range chains {
		if !strings.HasPrefix(chain, "AWS-CONNMARK-CHAIN") && !strings.HasPrefix(chain, "AWS-SNAT-CHAIN") {
			continue
		}
		n, err := strconv.Atoi(chain[strings.LastIndex(chain, "-")+1:])
		if err != nil {
			return fmt.Errorf("chain %s: %w", chain, err)
		}
		if n > 0 {
			if err := ipt.DeleteChain("nat", chain); err != nil {
				return fmt.Errorf("failed to delete chain %s: %w", chain, err)
			}
		}
	}
	return nil
}

func wrapIf(err error, msg string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", msg, err)
}
