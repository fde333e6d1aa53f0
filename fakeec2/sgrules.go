package fakeec2

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Security group rules, as EC2 keeps them: one rule per peer (an IPv4 or
// IPv6 CIDR or a group) with a protocol and a port range, each with its
// sgr- id. A new group allows all egress; a VPC's default group also allows
// all ingress from itself. Everything here runs with Server.mu held.

// maxRulesPerDirection is EC2's default quota of inbound (and of outbound)
// rules per security group.
const maxRulesPerDirection = 60

type sgRule struct {
	id     string
	egress bool
	// proto is "-1" (all), "tcp", "udp", "icmp", "icmpv6" or a protocol
	// number; from and to are -1 for all ports (and ICMP type and code).
	proto    string
	from, to int
	// The peer: cidr (IPv4 or IPv6), or group.
	cidr  netip.Prefix
	group string
	desc  string
}

// same reports whether r and o allow the same traffic (descriptions aside).
func (r *sgRule) same(o *sgRule) bool {
	return r.egress == o.egress && r.proto == o.proto && r.from == o.from && r.to == o.to && r.cidr == o.cidr && r.group == o.group
}

// String is EC2's wording of a rule in its errors.
func (r *sgRule) String() string {
	peer := r.group
	if r.cidr.IsValid() {
		peer = r.cidr.String()
	}
	proto := strings.ToUpper(r.proto)
	if r.proto == "-1" {
		proto = "ALL"
	}
	return fmt.Sprintf("peer: %s, %s, from port: %d, to port: %d, ALLOW", peer, proto, r.from, r.to)
}

// allEgress is the rule every new group starts with.
func (st *state) allEgress() *sgRule {
	return &sgRule{id: st.newID("sgr"), egress: true, proto: "-1", from: -1, to: -1, cidr: netip.MustParsePrefix("0.0.0.0/0")}
}

// addRules adds rules to g; any duplicate (of g's rules or within rules)
// or going past the quota refuses them all.
func (st *state) addRules(g *secGroup, rules []*sgRule) *Error {
	for i, r := range rules {
		if slices.ContainsFunc(g.rules, r.same) || slices.ContainsFunc(rules[:i], r.same) {
			return errCode("InvalidPermission.Duplicate", 400, "the specified rule %q already exists", r.String())
		}
		if r.group != "" {
			peer, ok := st.sgs[r.group]
			if !ok {
				return groupNotFound(r.group)
			}
			if peer.vpcID != g.vpcID {
				return invalidParam("You have specified two resources that belong to different networks.")
			}
		}
	}
	count := func(egress bool) int {
		n := 0
		for _, r := range append(slices.Clone(g.rules), rules...) {
			if r.egress == egress {
				n++
			}
		}
		return n
	}
	if count(false) > maxRulesPerDirection || count(true) > maxRulesPerDirection {
		return errCode("RulesPerSecurityGroupLimitExceeded", 400, "The maximum number of rules per security group has been reached.")
	}
	for _, r := range rules {
		r.id = st.newID("sgr")
		g.rules = append(g.rules, r)
	}
	return nil
}

// revokeRules removes the rules of g that match want (or whose ids are in
// ids) and returns them, with the wanted rules that matched none.
func (st *state) revokeRules(g *secGroup, want []*sgRule, ids []string) (revoked, unknown []*sgRule, e *Error) {
	for _, id := range ids {
		if !slices.ContainsFunc(g.rules, func(r *sgRule) bool { return r.id == id }) {
			return nil, nil, errCode("InvalidSecurityGroupRuleId.NotFound", 400, "The security group rule ID '%s' does not exist", id)
		}
	}
	for _, w := range want {
		if !slices.ContainsFunc(g.rules, w.same) {
			unknown = append(unknown, w)
		}
	}
	g.rules = slices.DeleteFunc(g.rules, func(r *sgRule) bool {
		drop := slices.Contains(ids, r.id) || slices.ContainsFunc(want, r.same)
		if drop {
			revoked = append(revoked, r)
		}
		return drop
	})
	return revoked, unknown, nil
}

// protocols maps the protocol numbers EC2 names to their names.
var protocols = map[string]string{"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}

// normProtocol checks and names a rule's protocol as EC2 stores it.
func normProtocol(p string) (string, *Error) {
	p = strings.ToLower(p)
	if name, ok := protocols[p]; ok {
		return name, nil
	}
	switch p {
	case "-1", "tcp", "udp", "icmp", "icmpv6":
		return p, nil
	case "":
		return "", missingParam("IpProtocol")
	}
	if n, err := strconv.Atoi(p); err == nil && n >= 0 && n <= 255 {
		return p, nil
	}
	return "", invalidParam("Invalid value '%s' for IP protocol. Unknown protocol.", truncate(p, 32))
}

// checkPorts checks a rule's port range (ICMP: type and code) for its
// protocol and returns what EC2 stores: -1, -1 for all.
func checkPorts(proto string, from, to int, haveFrom, haveTo bool) (int, int, *Error) {
	switch proto {
	case "tcp", "udp":
		if !haveFrom || !haveTo {
			return 0, 0, invalidParam("Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange")
		}
		if from < 0 || to > 65535 || from > to {
			return 0, 0, invalidParam("Invalid TCP/UDP port range %d-%d: ports are 0-65535, from not above to.", from, to)
		}
		return from, to, nil
	case "icmp", "icmpv6":
		if !haveFrom {
			from = -1
		}
		if !haveTo {
			to = -1
		}
		if from < -1 || from > 255 || to < -1 || to > 255 {
			return 0, 0, invalidParam("Invalid ICMP type %d or code %d.", from, to)
		}
		return from, to, nil
	}
	return -1, -1, nil
}
