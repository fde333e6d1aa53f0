package fakeec2

import (
	"net/netip"
	"time"
)

// Wire handlers for IPv6: the VPC's Amazon-provided /56, a subnet's /64,
// and an ENI's IPv6 addresses and /80 prefixes (state in ipv6.go).

// writeVPCIPv6 writes a VPC's ipv6CidrBlockAssociationSet.
func (s *Server) writeVPCIPv6(x *xw, v *vpc) {
	if len(v.ipv6) == 0 {
		x.raw("<ipv6CidrBlockAssociationSet/>")
		return
	}
	x.open("ipv6CidrBlockAssociationSet")
	for _, c := range v.ipv6 {
		s.writeVPCIPv6Assoc(x, c, "item", "associated")
	}
	x.close("ipv6CidrBlockAssociationSet")
}

func (s *Server) writeVPCIPv6Assoc(x *xw, c cidrAssoc, tag, state string) {
	x.open(tag)
	x.el("associationId", c.id)
	x.el("ipv6CidrBlock", c.p.String())
	x.raw("<ipv6CidrBlockState><state>" + state + "</state></ipv6CidrBlockState>")
	x.el("networkBorderGroup", s.cfg.Region)
	x.el("ipv6Pool", "Amazon")
	x.close(tag)
}

// writeSubnetIPv6 writes a subnet's ipv6CidrBlockAssociationSet.
func writeSubnetIPv6(x *xw, sn *subnet) {
	if sn.v6 == nil {
		x.raw("<ipv6CidrBlockAssociationSet/>")
		return
	}
	x.open("ipv6CidrBlockAssociationSet")
	writeSubnetIPv6Assoc(x, sn.v6.assoc, "item", "associated")
	x.close("ipv6CidrBlockAssociationSet")
}

func writeSubnetIPv6Assoc(x *xw, c cidrAssoc, tag, state string) {
	x.open(tag)
	x.el("associationId", c.id)
	x.el("ipv6CidrBlock", c.p.String())
	x.raw("<ipv6CidrBlockState><state>" + state + "</state></ipv6CidrBlockState>")
	x.close(tag)
}

// writeENIIPv6 writes an ENI's ipv6AddressesSet and ipv6PrefixSet.
func writeENIIPv6(x *xw, v eniView) {
	if len(v.ipv6) == 0 {
		x.raw("<ipv6AddressesSet/>")
	} else {
		x.open("ipv6AddressesSet")
		for _, a := range v.ipv6 {
			x.open("item")
			x.el("ipv6Address", a.a.String())
			x.elBool("isPrimaryIpv6", false)
			x.close("item")
		}
		x.close("ipv6AddressesSet")
	}
	if len(v.pfx6) > 0 {
		x.open("ipv6PrefixSet")
		for _, p := range v.pfx6 {
			x.open("item")
			x.el("ipv6Prefix", p.p.String())
			x.close("item")
		}
		x.close("ipv6PrefixSet")
	}
}

// associateVPCIPv6Block answers AssociateVpcCidrBlock with
// AmazonProvidedIpv6CidrBlock=true.
func (s *Server) associateVPCIPv6Block(p params, x *xw, vpcID string) *Error {
	if p.get("CidrBlock") != "" || p.get("Ipv6CidrBlock") != "" {
		return errCode("InvalidParameterCombination", 400, "You may specify AmazonProvidedIpv6CidrBlock or a CIDR block, not both.")
	}
	a, e := s.st.associateVPCIPv6(vpcID)
	if e != nil {
		return e
	}
	s.writeVPCIPv6Assoc(x, a, "ipv6CidrBlockAssociation", "associating")
	x.el("vpcId", vpcID)
	return nil
}

func (s *Server) associateSubnetCidrBlock(p params, x *xw, now time.Time) *Error {
	id, e := p.required("SubnetId")
	if e != nil {
		return e
	}
	sn, ok := s.st.subnets[id]
	if !ok {
		return subnetNotFound(id)
	}
	if p.get("Ipv6IpamPoolId") != "" {
		return invalidParam("IPAM pools are not supported by this EC2; give Ipv6CidrBlock.")
	}
	a, e := s.st.associateSubnetIPv6(sn, p.get("Ipv6CidrBlock"))
	if e != nil {
		return e
	}
	writeSubnetIPv6Assoc(x, a, "ipv6CidrBlockAssociation", "associating")
	x.el("subnetId", id)
	return nil
}

func (s *Server) assignIpv6Addresses(p params, x *xw, now time.Time) *Error {
	req := ipv6Request{eniID: p.get("NetworkInterfaceId")}
	var e *Error
	if req.addrs, e = ipv6List(p, "Ipv6Addresses"); e != nil {
		return e
	}
	if req.count, _, e = p.integer("Ipv6AddressCount", 1, maxAssign); e != nil {
		return e
	}
	if req.prefixes, e = ipv6PrefixList(p, "Ipv6Prefix"); e != nil {
		return e
	}
	if req.prefixCount, _, e = p.integer("Ipv6PrefixCount", 1, maxAssign); e != nil {
		return e
	}
	n, addrs, prefixes, e := s.st.assignIPv6(req, now)
	if e != nil {
		return e
	}
	s.emit(Event{Kind: AddressesChanged, InstanceID: instID(n), ENI: n.view(), At: now})
	x.open("assignedIpv6Addresses")
	for _, a := range addrs {
		x.el("item", a.String())
	}
	x.close("assignedIpv6Addresses")
	x.open("assignedIpv6PrefixSet")
	for _, q := range prefixes {
		x.el("item", q.String())
	}
	x.close("assignedIpv6PrefixSet")
	x.el("networkInterfaceId", n.id)
	return nil
}

func (s *Server) unassignIpv6Addresses(p params, x *xw, now time.Time) *Error {
	addrs, e := ipv6List(p, "Ipv6Addresses")
	if e != nil {
		return e
	}
	prefixes, e := ipv6PrefixList(p, "Ipv6Prefix")
	if e != nil {
		return e
	}
	n, e := s.st.unassignIPv6(p.get("NetworkInterfaceId"), addrs, prefixes)
	if e != nil {
		return e
	}
	s.emit(Event{Kind: AddressesChanged, InstanceID: instID(n), ENI: n.view(), At: now})
	x.el("networkInterfaceId", n.id)
	x.open("unassignedIpv6Addresses")
	for _, a := range addrs {
		x.el("item", a.String())
	}
	x.close("unassignedIpv6Addresses")
	x.open("unassignedIpv6PrefixSet")
	for _, q := range prefixes {
		x.el("item", q.String())
	}
	x.close("unassignedIpv6PrefixSet")
	return nil
}

func ipv6List(p params, name string) ([]netip.Addr, *Error) {
	var out []netip.Addr
	for _, s := range p.list(name) {
		a, e := parseIPv6(name, s)
		if e != nil {
			return nil, e
		}
		out = append(out, a)
	}
	return out, nil
}

func ipv6PrefixList(p params, name string) ([]netip.Prefix, *Error) {
	var out []netip.Prefix
	for _, s := range p.list(name) {
		q, e := parseIPv6CIDR(name, s)
		if e != nil {
			return nil, e
		}
		out = append(out, q)
	}
	return out, nil
}
