package fakeec2

import "sync"

// eniRow is one ENI as a DescribeNetworkInterfaces filter sees it.
type eniRow struct {
	s *Server
	n *eni
	v eniView
}

// whenAttached is f's value while the ENI is attached, none otherwise.
func whenAttached(f func(eniRow) []string) func(eniRow) []string {
	return func(r eniRow) []string {
		if !r.v.attached {
			return nil
		}
		return f(r)
	}
}

func (r eniRow) addresses() []string {
	out := make([]string, 0, len(r.v.ips))
	for _, a := range r.v.ips {
		out = append(out, a.a.String())
	}
	return out
}

// ipv6List lists the ENI's IPv6 addresses, or with prefixes its /80s.
func (v eniView) ipv6List(prefixes bool) []string {
	var out []string
	if prefixes {
		for _, p := range v.pfx6 {
			out = append(out, p.p.String())
		}
		return out
	}
	for _, a := range v.ipv6 {
		out = append(out, a.a.String())
	}
	return out
}

// eniFields holds every filter EC2 documents for DescribeNetworkInterfaces
// (botocore's ec2/2016-11-15), plus ipv4-prefix, which ipamd has used.
var eniFields = sync.OnceValue(func() fields[eniRow] {
	return fields[eniRow]{
		"operator.managed":                 constant[eniRow]("false"),
		"requester-managed":                func(r eniRow) []string { return boolVal(r.n.requester) },
		"association.public-ip":            func(r eniRow) []string { return publicOf(r.n) },
		"addresses.association.public-ip":  func(r eniRow) []string { return publicOf(r.n) },
		"association.public-dns-name":      func(r eniRow) []string { return one(publicDNS(r.n.public, r.s.cfg.Region)) },
		"association.ip-owner-id":          func(r eniRow) []string { return one(r.s.ipOwner(r.n)) },
		"addresses.association.owner-id":   func(r eniRow) []string { return one(r.s.ipOwner(r.n)) },
		"association.allocation-id":        func(r eniRow) []string { return eipField(r.n, func(x *eip) string { return x.allocID }) },
		"association.association-id":       func(r eniRow) []string { return eipField(r.n, func(x *eip) string { return x.assocID }) },
		"addresses.primary":                func(r eniRow) []string { return primaries(len(r.v.ips)) },
		"addresses.private-ip-address":     eniRow.addresses,
		"ipv6-addresses.ipv6-address":      func(r eniRow) []string { return r.v.ipv6List(false) },
		"private-ip-address":               eniRow.addresses,
		"availability-zone":                func(r eniRow) []string { return one(r.n.subnet.az) },
		"availability-zone-id":             func(r eniRow) []string { return one(r.s.st.azID(r.n.subnet.az)) },
		"description":                      func(r eniRow) []string { return []string{r.n.desc} },
		"group-id":                         func(r eniRow) []string { return r.n.sgs },
		"interface-type":                   func(r eniRow) []string { return one(r.n.ifType) },
		"mac-address":                      func(r eniRow) []string { return one(r.n.mac) },
		"network-interface-id":             func(r eniRow) []string { return one(r.n.id) },
		"owner-id":                         func(r eniRow) []string { return one(r.s.cfg.AccountID) },
		"private-dns-name":                 eniDNSName,
		"source-dest-check":                func(r eniRow) []string { return boolVal(!r.n.noSourceDestCheck) },
		"status":                           eniStatus,
		"subnet-id":                        func(r eniRow) []string { return one(r.n.subnet.id) },
		"vpc-id":                           func(r eniRow) []string { return one(r.n.subnet.vpcID) },
		"ipv4-prefix":                      eniPrefixes,
		"ipv4-prefixes.ipv4-prefix":        eniPrefixes,
		"attachment.attach-time":           whenAttached(func(r eniRow) []string { return one(ts(r.n.attachTime)) }),
		"attachment.attachment-id":         whenAttached(func(r eniRow) []string { return one(r.n.attachID) }),
		"attachment.delete-on-termination": whenAttached(func(r eniRow) []string { return boolVal(r.n.dot) }),
		"attachment.device-index":          whenAttached(func(r eniRow) []string { return intVal(r.n.device) }),
		"attachment.network-card-index":    whenAttached(func(r eniRow) []string { return intVal(r.n.card) }),
		"attachment.instance-id":           whenAttached(func(r eniRow) []string { return one(r.n.inst.id) }),
		"attachment.instance-owner-id":     whenAttached(func(r eniRow) []string { return one(r.s.cfg.AccountID) }),
		"attachment.status":                whenAttached(func(eniRow) []string { return []string{"attached"} }),
	}.documented("DescribeNetworkInterfaces")
})

// primaries is the addresses.primary values of an ENI with n addresses:
// the first is primary, the rest are not.
func primaries(n int) []string {
	switch {
	case n == 0:
		return nil
	case n == 1:
		return []string{"true"}
	}
	return []string{"true", "false"}
}

func eniPrefixes(r eniRow) []string {
	out := make([]string, 0, len(r.v.pfx))
	for _, q := range r.v.pfx {
		out = append(out, q.p.String())
	}
	return out
}

func eniDNSName(r eniRow) []string {
	if len(r.n.ips) == 0 {
		return nil
	}
	return one(r.s.st.dnsName(r.n.ips[0].a))
}

func eniStatus(r eniRow) []string {
	if r.v.attached || r.n.requester {
		return []string{"in-use"}
	}
	return []string{"available"}
}

func publicOf(n *eni) []string {
	if !n.public.IsValid() {
		return nil
	}
	return []string{n.public.String()}
}

func eipField(n *eni, f func(*eip) string) []string {
	if n.eip == nil {
		return nil
	}
	return one(f(n.eip))
}
