package egress

import (
	"errors"
	"fmt"
	"net"

	"github.com/coreos/go-iptables/iptables"
)

// snat is the nat table of the node namespace, where upstream's snat
// package (cmd/egress-cni-plugin/snat) keeps one chain per pod: CNI-E4-…
// accepting multicast and SNAT'ing the rest to the node's IPv4 address,
// reached from POSTROUTING by the pod's 169.254.172.x source, every rule
// commented `name: "aws-cni" id: "<container id>"`.
type snat struct{ ipt *iptables.IPTables }

func newSNAT() (*snat, error) {
	ipt, err := iptables.NewWithProtocol(iptables.ProtocolIPv4)
	if err != nil {
		return nil, fmt.Errorf("egress-cni: command iptables not found: %w", err)
	}
	return &snat{ipt: ipt}, nil
}

// rules are upstream's iptRules: randomizeSNAT "none" SNATs plainly,
// "hashrandom" (or an iptables without --random-fully) with --random,
// anything else ("prng", the default) with --random-fully.
func (s *snat) rules(nodeIP, src net.IP, chain, comment, randomize string) [][]string {
	c := []string{"-m", "comment", "--comment", comment}
	to := append([]string{chain, "-j", "SNAT", "--to-source", nodeIP.String()}, c...)
	switch {
	case randomize == "none":
	case randomize == "hashrandom" || !s.ipt.HasRandomFully():
		to = append(to, "--random")
	default:
		to = append(to, "--random-fully")
	}
	return [][]string{
		append([]string{chain, "-d", ipv4MulticastRange, "-j", "ACCEPT"}, c...),
		to,
		append([]string{"POSTROUTING", "-s", src.String(), "-j", chain}, c...),
	}
}

// add creates the pod's chain and its rules (snat.Add).
func (s *snat) add(nodeIP, src net.IP, chain, comment, randomize string) error {
	rules := s.rules(nodeIP, src, chain, comment, randomize)
	exists, err := s.ipt.ChainExists("nat", chain)
	if err != nil {
		return fmt.Errorf("egress-cni: nat chain %s: %w", chain, err)
	}
	if !exists {
		if err := s.ipt.NewChain("nat", chain); err != nil {
			return fmt.Errorf("egress-cni: new nat chain %s: %w", chain, err)
		}
	}
	for _, r := range rules {
		if err := s.ipt.AppendUnique("nat", r[0], r[1:]...); err != nil {
			return fmt.Errorf("egress-cni: nat rule in %s: %w", r[0], err)
		}
	}
	return nil
}

// del removes the POSTROUTING jump and the pod's chain (snat.Del); what is
// already gone is not an error.
func (s *snat) del(src net.IP, chain, comment string) error {
	err := s.ipt.DeleteIfExists("nat", "POSTROUTING", "-s", src.String(), "-j", chain, "-m", "comment", "--comment", comment)
	if err != nil && !notExist(err) {
		return fmt.Errorf("egress-cni: delete POSTROUTING jump to %s: %w", chain, err)
	}
	if err := s.ipt.ClearAndDeleteChain("nat", chain); err != nil && !notExist(err) {
		return fmt.Errorf("egress-cni: delete nat chain %s: %w", chain, err)
	}
	return nil
}

// present reports whether the pod's chain exists (CHECK).
func (s *snat) present(chain string) (bool, error) {
	return s.ipt.ChainExists("nat", chain)
}

func notExist(err error) bool {
	var e *iptables.Error
	return errors.As(err, &e) && e.IsNotExist()
}
