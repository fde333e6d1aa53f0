package fakeec2

import (
	"strconv"
	"sync"
)

// Filter tables of DescribeVpcs, DescribeSubnets, DescribeSecurityGroups and
// GetSubnetCidrReservations: every name EC2 documents (see filters.go).

type vpcRow struct {
	s *Server
	v *vpc
}

var vpcFields = sync.OnceValue(func() fields[vpcRow] {
	return fields[vpcRow]{
		"vpc-id": func(r vpcRow) []string { return one(r.v.id) },
		"cidr":   func(r vpcRow) []string { return one(r.v.cidrs[0].p.String()) },
		"cidr-block-association.cidr-block": func(r vpcRow) []string {
			out := make([]string, 0, len(r.v.cidrs))
			for _, c := range r.v.cidrs {
				out = append(out, c.p.String())
			}
			return out
		},
		"cidr-block-association.association-id": func(r vpcRow) []string {
			out := make([]string, 0, len(r.v.cidrs))
			for _, c := range r.v.cidrs {
				out = append(out, c.id)
			}
			return out
		},
		"cidr-block-association.state": constant[vpcRow]("associated"),
		"ipv6-cidr-block-association.ipv6-cidr-block": func(r vpcRow) []string {
			out := make([]string, 0, len(r.v.ipv6))
			for _, c := range r.v.ipv6 {
				out = append(out, c.p.String())
			}
			return out
		},
		"ipv6-cidr-block-association.association-id": func(r vpcRow) []string {
			out := make([]string, 0, len(r.v.ipv6))
			for _, c := range r.v.ipv6 {
				out = append(out, c.id)
			}
			return out
		},
		"ipv6-cidr-block-association.ipv6-pool": func(r vpcRow) []string {
			if len(r.v.ipv6) == 0 {
				return nil
			}
			return one("Amazon")
		},
		"ipv6-cidr-block-association.state": func(r vpcRow) []string {
			if len(r.v.ipv6) == 0 {
				return nil
			}
			return one("associated")
		},
		"dhcp-options-id": constant[vpcRow](dhcpOptionsID),
		"is-default":      constant[vpcRow]("false"),
		"owner-id":        func(r vpcRow) []string { return one(r.s.cfg.AccountID) },
		"state":           constant[vpcRow]("available"),
	}.documented("DescribeVpcs")
})

// dhcpOptionsID is the one DHCP options set every VPC of the fake uses.
const dhcpOptionsID = "dopt-00000000000000001"

type subnetRow struct {
	s  *Server
	sn *subnet
}

var subnetFields = sync.OnceValue(func() fields[subnetRow] {
	return fields[subnetRow]{
		"availability-zone":          func(r subnetRow) []string { return one(r.sn.az) },
		"availability-zone-id":       func(r subnetRow) []string { return one(r.s.st.azID(r.sn.az)) },
		"available-ip-address-count": func(r subnetRow) []string { return intVal(r.sn.free) },
		"cidr-block":                 func(r subnetRow) []string { return one(r.sn.cidr.String()) },
		"default-for-az":             constant[subnetRow]("false"),
		"enable-dns64":               constant[subnetRow]("false"),
		"enable-lni-at-device-index": none[subnetRow],
		"ipv6-native":                constant[subnetRow]("false"),
		"ipv6-cidr-block-association.ipv6-cidr-block": func(r subnetRow) []string {
			if r.sn.v6 == nil {
				return nil
			}
			return one(r.sn.v6.assoc.p.String())
		},
		"ipv6-cidr-block-association.association-id": func(r subnetRow) []string {
			if r.sn.v6 == nil {
				return nil
			}
			return one(r.sn.v6.assoc.id)
		},
		"ipv6-cidr-block-association.state": func(r subnetRow) []string {
			if r.sn.v6 == nil {
				return nil
			}
			return one("associated")
		},
		"map-customer-owned-ip-on-launch":                  constant[subnetRow]("false"),
		"map-public-ip-on-launch":                          func(r subnetRow) []string { return boolVal(r.sn.mapPublic) },
		"owner-id":                                         func(r subnetRow) []string { return one(r.s.cfg.AccountID) },
		"private-dns-name-options-on-launch.hostname-type": constant[subnetRow]("ip-name"),
		"private-dns-name-options-on-launch.enable-resource-name-dns-a-record":    constant[subnetRow]("false"),
		"private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record": constant[subnetRow]("false"),
		"state":      constant[subnetRow]("available"),
		"subnet-arn": func(r subnetRow) []string { return one(r.s.subnetARN(r.sn)) },
		"subnet-id":  func(r subnetRow) []string { return one(r.sn.id) },
		"vpc-id":     func(r subnetRow) []string { return one(r.sn.vpcID) },
	}.alias(
		"availabilityZone", "availability-zone",
		"availabilityZoneId", "availability-zone-id",
		"defaultForAz", "default-for-az",
		// older spellings ipamd's callers have used
		"cidr", "cidr-block",
		"cidrBlock", "cidr-block",
	).documented("DescribeSubnets")
})

type groupRow struct {
	s *Server
	g *secGroup
}

var groupFields = sync.OnceValue(func() fields[groupRow] {
	return fields[groupRow]{
		"description": func(r groupRow) []string { return []string{r.g.desc} },
		"group-id":    func(r groupRow) []string { return one(r.g.id) },
		"group-name":  func(r groupRow) []string { return one(r.g.name) },
		"owner-id":    func(r groupRow) []string { return one(r.s.cfg.AccountID) },
		"vpc-id":      func(r groupRow) []string { return one(r.g.vpcID) },
	}.add(permissionFields()).documented("DescribeSecurityGroups")
})

// permissionFields are the ip-permission.* and egress.ip-permission.*
// filters, read from a group's rules.
func permissionFields() fields[groupRow] {
	fm := fields[groupRow]{}
	for _, dir := range []struct {
		prefix string
		egress bool
	}{{"ip-permission.", false}, {"egress.ip-permission.", true}} {
		for name, get := range map[string]func(groupRow, *sgRule) string{
			"cidr":      func(_ groupRow, r *sgRule) string { return cidrOf(true)(r) },
			"ipv6-cidr": func(_ groupRow, r *sgRule) string { return cidrOf(false)(r) },
			"protocol":  func(_ groupRow, r *sgRule) string { return r.proto },
			"from-port": func(_ groupRow, r *sgRule) string { return strconv.Itoa(r.from) },
			"to-port":   func(_ groupRow, r *sgRule) string { return strconv.Itoa(r.to) },
			"group-id":  func(_ groupRow, r *sgRule) string { return r.group },
			"group-name": func(g groupRow, r *sgRule) string {
				if peer := g.s.st.sgs[r.group]; peer != nil {
					return peer.name
				}
				return ""
			},
			"user-id": func(g groupRow, r *sgRule) string {
				if r.group == "" {
					return ""
				}
				return g.s.cfg.AccountID
			},
		} {
			egress := dir.egress
			fm[dir.prefix+name] = func(g groupRow) []string {
				return ruleValues(g.g, egress, func(r *sgRule) string { return get(g, r) })
			}
		}
	}
	return fm
}

var reservationFields = sync.OnceValue(func() fields[*reservation] {
	return fields[*reservation]{
		"reservationType": func(r *reservation) []string { return one(r.typ) },
		"subnet-id":       func(r *reservation) []string { return one(r.subnetID) },
	}.documented("GetSubnetCidrReservations")
})
