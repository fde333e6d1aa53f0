package netsetup

import (
	"errors"
	"fmt"
)

// connmarkRules is the pure part of upstream's iptablesConnmark.buildRules.
// For prefix eni, mark 0x80 and exempt 10.0.0.0/16:
//
//	nat/PREROUTING:
//	  -i eni+ -m comment --comment "AWS, outbound connections" -j AWS-CONNMARK-CHAIN-0
//	  -m comment --comment "AWS, CONNMARK" -j CONNMARK --restore-mark --mask 0x80
//	nat/AWS-CONNMARK-CHAIN-0:
//	  -d 10.0.0.0/16 -m comment --comment "AWS CONNMARK CHAIN" -j RETURN
//	  -m comment --comment "AWS, CONNMARK" -j CONNMARK --set-xmark 0x80/0x80
//
// The restore rule is deleted and appended again, so it follows the jump;
// last (the set-mark rule) comes after the stale rules, as the SNAT rule.
func connmarkRules(vethPrefix string, mark uint32, exempt []string) (head []iptRule, last iptRule) {
	jump := []string{"-i", vethPrefix + "+", "-m", "comment", "--comment", "AWS, outbound connections"}
	restore := []string{"-m", "comment", "--comment", "AWS, CONNMARK", "-j", "CONNMARK", "--restore-mark", "--mask", fmt.Sprintf("%#x", mark)}
	head = []iptRule{
		// The rule of VPC CNIs before 1.12, with a state match, goes.
		{name: "legacy connmark", table: "nat", chain: "PREROUTING",
			spec: append(append(jump[:len(jump):len(jump)], "-m", "state", "--state", "NEW"), "-j", ConnmarkChain)},
		{name: "connmark jump", shouldExist: true, table: "nat", chain: "PREROUTING", spec: append(jump[:len(jump):len(jump)], "-j", ConnmarkChain)},
	}
	for _, c := range exempt {
		spec := []string{"-d", c, "-m", "comment", "--comment", "AWS CONNMARK CHAIN", "-j", "RETURN"}
		if c == defaultRouteCIDR {
			spec = spec[2:]
		}
		head = append(head, iptRule{name: ConnmarkChain, shouldExist: true, table: "nat", chain: ConnmarkChain, spec: spec})
	}
	head = append(head,
		iptRule{name: "connmark to fwmark copy", table: "nat", chain: "PREROUTING", spec: restore},
		iptRule{name: "restore mark", shouldExist: true, table: "nat", chain: "PREROUTING", spec: restore})
	last = iptRule{name: "set connmark", shouldExist: true, table: "nat", chain: ConnmarkChain,
		spec: []string{"-m", "comment", "--comment", "AWS, CONNMARK", "-j", "CONNMARK", "--set-xmark", fmt.Sprintf("%#x/%#x", mark, mark)}}
	return head, last
}

// setupConnmark is upstream's iptablesConnmark.Setup: exempt is the VPC
// CIDRs and the excluded CIDRs; an empty list is refused as upstream does.
func setupConnmark(ipt iptablesAPI, vethPrefix string, mark uint32, exempt []string) error {
	if len(exempt) == 0 {
		return errors.New("exemptCIDRs cannot be empty")
	}
	if err := ipt.NewChain("nat", ConnmarkChain); err != nil && !chainExistErr(err) {
		return fmt.Errorf("failed to add chain %s: %w", ConnmarkChain, err)
	}
	rules, last := connmarkRules(vethPrefix, mark, exempt)
	stale, err := staleRules(ipt, "nat", ConnmarkChain, rules, []string{ConnmarkChain})
	if err != nil {
		return err
	}
	return applyRules(ipt, append(append(rules, stale...), last))
}

// cleanupConnmark is upstream's iptablesConnmark.Cleanup (external SNAT):
// the two PREROUTING rules go, the chain is flushed and deleted; what is
// already missing is not an error.
func cleanupConnmark(ipt iptablesAPI, vethPrefix string, mark uint32) error {
	head, _ := connmarkRules(vethPrefix, mark, nil)
	jump, restore := head[1], head[3]
	for _, step := range []func() error{
		func() error { return ipt.Delete("nat", "PREROUTING", jump.spec...) },
		func() error { return ipt.Delete("nat", "PREROUTING", restore.spec...) },
		func() error { return ipt.ClearChain("nat", ConnmarkChain) },
		func() error { return ipt.DeleteChain("nat", ConnmarkChain) },
	} {
		if err := step(); err != nil && !isNotExistError(err) {
			return fmt.Errorf("connmark cleanup: %w", err)
		}
	}
	return nil
}
