package fakeec2

import (
	"net/netip"
	"slices"
	"time"
)

// Wire handlers for NAT gateways, Elastic IPs and MapPublicIpOnLaunch.

func (s *Server) writeNatGateway(x *xw, g *natGateway, tag string) {
	x.open(tag)
	x.el("createTime", ts(g.created))
	x.open("natGatewayAddressSet")
	x.open("item")
	x.el("allocationId", g.eip.allocID)
	x.el("networkInterfaceId", g.n.id)
	x.elAddr("privateIp", g.eipPrivate())
	x.elAddr("publicIp", g.eip.public)
	if g.eip.assocID != "" {
		x.el("associationId", g.eip.assocID)
	}
	x.elBool("isPrimary", true)
	x.el("status", "succeeded")
	x.close("item")
	x.close("natGatewayAddressSet")
	x.el("natGatewayId", g.id)
	x.el("state", g.state)
	x.el("subnetId", g.subnet.id)
	x.el("vpcId", g.subnet.vpcID)
	x.el("connectivityType", "public")
	x.tagSet(g.tags)
	x.close(tag)
}

// eipPrivate is the NAT gateway's private address (its ENI's primary).
func (g *natGateway) eipPrivate() netip.Addr {
	if len(g.n.ips) > 0 {
		return g.n.ips[0].a
	}
	return g.eip.private
}

func (s *Server) createNatGateway(p params, x *xw, now time.Time) *Error {
	tags, e := p.tagSpecs("natgateway")
	if e != nil {
		return e
	}
	g, e := s.st.createNatGateway(p.get("SubnetId"), p.get("AllocationId"), p.get("ConnectivityType"), now)
	if e != nil {
		return e
	}
	g.tags = tags
	s.writeNatGateway(x, g, "natGateway")
	return nil
}

func (s *Server) deleteNatGateway(p params, x *xw, now time.Time) *Error {
	g, e := s.st.deleteNatGateway(p.get("NatGatewayId"))
	if e != nil {
		return e
	}
	x.el("natGatewayId", g.id)
	return nil
}

func (s *Server) describeNatGateways(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters(natFields().names()...)
	if e != nil {
		return e
	}
	ids := p.list("NatGatewayId")
	for _, id := range ids {
		if _, ok := s.st.natgws[id]; !ok {
			return natGatewayNotFound(id)
		}
	}
	maxN, after, e := p.paging("nat", 5, 1000, len(ids) > 0)
	if e != nil {
		return e
	}
	var gs []*natGateway
	for _, g := range s.st.sortedNatGateways() {
		if (len(ids) == 0 || slices.Contains(ids, g.id)) && natFields().match(g, g.tags, fs) {
			gs = append(gs, g)
		}
	}
	gs, next := pageOf(gs, maxN, after)
	x.open("natGatewaySet")
	for _, g := range gs {
		s.writeNatGateway(x, g, "item")
	}
	x.close("natGatewaySet")
	x.nextToken("nat", next)
	return nil
}

func (s *Server) writeAddress(x *xw, a *eip, tag string) {
	x.open(tag)
	x.elAddr("publicIp", a.public)
	x.el("allocationId", a.allocID)
	x.el("domain", "vpc")
	if a.n != nil {
		x.el("associationId", a.assocID)
		x.el("networkInterfaceId", a.n.id)
		x.el("networkInterfaceOwnerId", s.cfg.AccountID)
		x.elAddr("privateIpAddress", a.private)
		if a.n.inst != nil {
			x.el("instanceId", a.n.inst.id)
		}
	}
	x.el("publicIpv4Pool", "amazon")
	x.el("networkBorderGroup", s.cfg.Region)
	x.tagSet(a.tags)
	x.close(tag)
}

func (s *Server) allocateAddress(p params, x *xw, now time.Time) *Error {
	tags, e := p.tagSpecs("elastic-ip")
	if e != nil {
		return e
	}
	a, e := s.st.allocateAddress(p.get("Domain"))
	if e != nil {
		return e
	}
	a.tags = tags
	x.elAddr("publicIp", a.public)
	x.el("domain", "vpc")
	x.el("allocationId", a.allocID)
	x.el("publicIpv4Pool", "amazon")
	x.el("networkBorderGroup", s.cfg.Region)
	return nil
}

func (s *Server) associateAddress(p params, x *xw, now time.Time) *Error {
	eniID := p.get("NetworkInterfaceId")
	if in := p.get("InstanceId"); in != "" && eniID == "" {
		inst, ok := s.st.instances[in]
		if !ok || inst.state != "running" {
			return instanceNotFound(in)
		}
		for _, n := range inst.enis {
			if n.isPrimary() {
				eniID = n.id
			}
		}
	}
	a, e := s.st.associateAddress(p.get("AllocationId"), eniID)
	if e != nil {
		return e
	}
	x.el("associationId", a.assocID)
	return nil
}

func (s *Server) releaseAddress(p params, x *xw, now time.Time) *Error {
	if e := s.st.releaseAddress(p.get("AllocationId")); e != nil {
		return e
	}
	x.ret()
	return nil
}

func (s *Server) describeAddresses(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters(addressFields().names()...)
	if e != nil {
		return e
	}
	ids := p.list("AllocationId")
	for _, id := range ids {
		if _, ok := s.st.eips[id]; !ok {
			return allocationNotFound(id)
		}
	}
	x.open("addressesSet")
	for _, a := range s.st.sortedEIPs() {
		if (len(ids) == 0 || slices.Contains(ids, a.allocID)) && addressFields().match(a, a.tags, fs) {
			s.writeAddress(x, a, "item")
		}
	}
	x.close("addressesSet")
	return nil
}

// modifySubnetAttribute serves MapPublicIpOnLaunch, the one attribute the
// fake keeps.
func (s *Server) modifySubnetAttribute(p params, x *xw, now time.Time) *Error {
	id, e := p.required("SubnetId")
	if e != nil {
		return e
	}
	sn, ok := s.st.subnets[id]
	if !ok {
		return subnetNotFound(id)
	}
	v := p.get("MapPublicIpOnLaunch.Value")
	if v == "" {
		return missingParam("MapPublicIpOnLaunch")
	}
	on, e := p.boolean("MapPublicIpOnLaunch.Value")
	if e != nil {
		return e
	}
	sn.mapPublic = on
	x.ret()
	return nil
}
