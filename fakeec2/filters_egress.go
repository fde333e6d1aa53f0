package fakeec2

import "sync"

// Filter tables of DescribeRouteTables, DescribeInternetGateways,
// DescribeNatGateways and DescribeAddresses: every name EC2 documents (see
// filters.go).

type rtRow struct {
	s  *Server
	rt *routeTable
}

func (r rtRow) routes(f func(route) string) []string {
	var out []string
	for _, rt := range r.rt.routes {
		if v := f(rt); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (r rtRow) assocs(f func(rtAssoc) string) []string {
	var out []string
	for _, a := range r.rt.assocs {
		if v := f(a); v != "" {
			out = append(out, v)
		}
	}
	return out
}

var routeTableFields = sync.OnceValue(func() fields[rtRow] {
	return fields[rtRow]{
		"route-table-id": func(r rtRow) []string { return one(r.rt.id) },
		"vpc-id":         func(r rtRow) []string { return one(r.rt.vpcID) },
		"owner-id":       func(r rtRow) []string { return one(r.s.cfg.AccountID) },
		"association.main": func(r rtRow) []string {
			if r.rt.main {
				return []string{"true"}
			}
			return nil
		},
		"association.route-table-association-id": func(r rtRow) []string { return r.assocs(func(a rtAssoc) string { return a.id }) },
		"association.route-table-id":             func(r rtRow) []string { return r.assocs(func(rtAssoc) string { return r.rt.id }) },
		"association.subnet-id":                  func(r rtRow) []string { return r.assocs(func(a rtAssoc) string { return a.subnetID }) },
		"route.destination-cidr-block":           func(r rtRow) []string { return r.routes(func(x route) string { return x.dest.String() }) },
		"route.gateway-id":                       func(r rtRow) []string { return r.routes(func(x route) string { return x.gatewayID }) },
		"route.nat-gateway-id":                   func(r rtRow) []string { return r.routes(func(x route) string { return x.natGatewayID }) },
		"route.origin":                           func(r rtRow) []string { return r.routes(func(x route) string { return x.origin }) },
		"route.state":                            func(r rtRow) []string { return r.routes(r.s.routeState) },
	}.documented("DescribeRouteTables")
})

type igwRow struct {
	s *Server
	g *internetGateway
}

var igwFields = sync.OnceValue(func() fields[igwRow] {
	return fields[igwRow]{
		"internet-gateway-id": func(r igwRow) []string { return one(r.g.id) },
		"owner-id":            func(r igwRow) []string { return one(r.s.cfg.AccountID) },
		"attachment.vpc-id":   func(r igwRow) []string { return one(r.g.vpcID) },
		"attachment.state": func(r igwRow) []string {
			if r.g.vpcID == "" {
				return nil
			}
			return []string{"available"}
		},
	}.documented("DescribeInternetGateways")
})

var natFields = sync.OnceValue(func() fields[*natGateway] {
	return fields[*natGateway]{
		"nat-gateway-id": func(g *natGateway) []string { return one(g.id) },
		"state":          func(g *natGateway) []string { return one(g.state) },
		"subnet-id":      func(g *natGateway) []string { return one(g.subnet.id) },
		"vpc-id":         func(g *natGateway) []string { return one(g.subnet.vpcID) },
	}.documented("DescribeNatGateways")
})

var addressFields = sync.OnceValue(func() fields[*eip] {
	return fields[*eip]{
		"allocation-id":  func(a *eip) []string { return one(a.allocID) },
		"association-id": func(a *eip) []string { return one(a.assocID) },
		"public-ip":      func(a *eip) []string { return one(a.public.String()) },
		"private-ip-address": func(a *eip) []string {
			if !a.private.IsValid() {
				return nil
			}
			return one(a.private.String())
		},
		"network-interface-id": func(a *eip) []string {
			if a.n == nil {
				return nil
			}
			return one(a.n.id)
		},
		"instance-id": func(a *eip) []string {
			if a.n == nil || a.n.inst == nil {
				return nil
			}
			return one(a.n.inst.id)
		},
		"domain": constant[*eip]("vpc"),
	}.documented("DescribeAddresses")
})
