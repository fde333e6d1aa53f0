package node

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/enilab/enilab/fakeec2"
)

// The security groups of every ENI as the VPC namespace enforces them:
// what is allowed out of (egress) and into (ingress) each ENI's addresses.
// Security groups only allow; what no rule allows is dropped, and replies
// to allowed traffic always pass (stateful, conntrack). This file is pure:
// secgroups_nft.go writes the plan as nftables rules.

// sgMatch is one rule: a protocol (-1 all, else the IP protocol number),
// a port range (tcp/udp destination port; icmp type in From, -1 all) and
// the peers it allows (the remote side's prefixes).
type sgMatch struct {
	proto    int
	from, to int
	peers    []netip.Prefix
}

// sgENI is one ENI's addresses and the rules of its groups.
type sgENI struct {
	id       string
	addrs    []netip.Prefix
	in, out  []sgMatch
	groupIDs []string
}

// eniPrefixes are the IPv4 addresses and prefixes an ENI answers for.
func eniPrefixes(e fakeec2.ENI) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range append([]netip.Addr{e.PrimaryIP}, e.SecondaryIPs...) {
		if a.Is4() {
			out = append(out, netip.PrefixFrom(a, 32))
		}
	}
	for _, p := range e.Prefixes {
		if p.Addr().Is4() {
			out = append(out, p)
		}
	}
	return out
}

// protoNumber maps a rule's protocol to its IP protocol number (-1 all);
// ok is false for one the filter cannot express (IPv6's icmpv6).
func protoNumber(p string) (int, bool) {
	switch strings.ToLower(p) {
	case "-1", "all":
		return -1, true
	case "tcp":
		return 6, true
	case "udp":
		return 17, true
	case "icmp":
		return 1, true
	}
	n, err := strconv.Atoi(p)
	return n, err == nil && n >= 0 && n < 256 && n != 58
}

// planSecurityGroups builds every ENI's filter from EC2's state: enis
// (the ones whose traffic the fabric carries) and groups by id. A rule
// naming a group allows that group's members' addresses.
func planSecurityGroups(enis []fakeec2.ENI, groups map[string]fakeec2.SecurityGroup) []sgENI {
	members := map[string][]netip.Prefix{}
	for _, e := range enis {
		for _, g := range e.SecurityGroups {
			members[g] = append(members[g], eniPrefixes(e)...)
		}
	}
	var out []sgENI
	for _, e := range enis {
		addrs := eniPrefixes(e)
		if len(addrs) == 0 {
			continue
		}
		se := sgENI{id: e.ID, addrs: addrs, groupIDs: slices.Clone(e.SecurityGroups)}
		for _, gid := range e.SecurityGroups {
			for _, r := range groups[gid].Rules {
				proto, ok := protoNumber(r.Protocol)
				if !ok || (r.CIDR.IsValid() && !r.CIDR.Addr().Is4()) {
					continue
				}
				m := sgMatch{proto: proto, from: r.FromPort, to: r.ToPort}
				if r.GroupID != "" {
					m.peers = members[r.GroupID]
				} else {
					m.peers = []netip.Prefix{r.CIDR}
				}
				if len(m.peers) == 0 {
					continue
				}
				if r.Egress {
					se.out = append(se.out, m)
				} else {
					se.in = append(se.in, m)
				}
			}
		}
		out = append(out, se)
	}
	return out
}
