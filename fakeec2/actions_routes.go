package fakeec2

import (
	"slices"
	"time"
)

// Wire handlers for route tables and internet gateways.

func (s *Server) writeRouteTable(x *xw, rt *routeTable, tag string) {
	x.open(tag)
	x.el("routeTableId", rt.id)
	x.el("vpcId", rt.vpcID)
	x.el("ownerId", s.cfg.AccountID)
	x.open("routeSet")
	for _, r := range rt.routes {
		x.open("item")
		x.el("destinationCidrBlock", r.dest.String())
		if r.gatewayID != "" {
			x.el("gatewayId", r.gatewayID)
		}
		if r.natGatewayID != "" {
			x.el("natGatewayId", r.natGatewayID)
		}
		x.el("state", s.routeState(r))
		x.el("origin", r.origin)
		x.close("item")
	}
	x.close("routeSet")
	x.open("associationSet")
	for _, a := range rt.assocs {
		x.open("item")
		x.el("routeTableAssociationId", a.id)
		x.el("routeTableId", rt.id)
		if a.subnetID != "" {
			x.el("subnetId", a.subnetID)
		}
		x.elBool("main", a.subnetID == "")
		x.raw("<associationState><state>associated</state></associationState>")
		x.close("item")
	}
	x.close("associationSet")
	x.raw("<propagatingVgwSet/>")
	x.tagSet(rt.tags)
	x.close(tag)
}

// routeState is EC2's: a route whose target is gone is a blackhole.
func (s *Server) routeState(r route) string {
	switch {
	case r.natGatewayID != "":
		if g, ok := s.st.natgws[r.natGatewayID]; !ok || g.state == "deleted" {
			return "blackhole"
		}
	case r.gatewayID != "" && r.gatewayID != "local":
		if g, ok := s.st.igws[r.gatewayID]; !ok || g.vpcID == "" {
			return "blackhole"
		}
	}
	return "active"
}

func (s *Server) createRouteTable(p params, x *xw, now time.Time) *Error {
	tags, e := p.tagSpecs("route-table")
	if e != nil {
		return e
	}
	rt, e := s.st.createRouteTable(p.get("VpcId"))
	if e != nil {
		return e
	}
	rt.tags = tags
	s.writeRouteTable(x, rt, "routeTable")
	return nil
}

func (s *Server) describeRouteTables(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters(routeTableFields().names()...)
	if e != nil {
		return e
	}
	ids := p.list("RouteTableId")
	for _, id := range ids {
		if _, ok := s.st.routeTables[id]; !ok {
			return routeTableNotFound(id)
		}
	}
	maxN, after, e := p.paging("rtb", 5, 100, len(ids) > 0)
	if e != nil {
		return e
	}
	var rts []*routeTable
	for _, rt := range s.st.sortedRouteTables() {
		if (len(ids) == 0 || slices.Contains(ids, rt.id)) && routeTableFields().match(rtRow{s, rt}, rt.tags, fs) {
			rts = append(rts, rt)
		}
	}
	rts, next := pageOf(rts, maxN, after)
	x.open("routeTableSet")
	for _, rt := range rts {
		s.writeRouteTable(x, rt, "item")
	}
	x.close("routeTableSet")
	x.nextToken("rtb", next)
	return nil
}

func (s *Server) createRoute(p params, x *xw, now time.Time) *Error {
	if e := s.st.createRoute(p.get("RouteTableId"), p.get("DestinationCidrBlock"), p.get("GatewayId"), p.get("NatGatewayId")); e != nil {
		return e
	}
	x.ret()
	return nil
}

func (s *Server) deleteRoute(p params, x *xw, now time.Time) *Error {
	if e := s.st.deleteRoute(p.get("RouteTableId"), p.get("DestinationCidrBlock")); e != nil {
		return e
	}
	x.ret()
	return nil
}

func (s *Server) associateRouteTable(p params, x *xw, now time.Time) *Error {
	id, e := s.st.associateRouteTable(p.get("RouteTableId"), p.get("SubnetId"))
	if e != nil {
		return e
	}
	x.el("associationId", id)
	x.raw("<associationState><state>associated</state></associationState>")
	return nil
}

func (s *Server) writeIGW(x *xw, g *internetGateway, tag string) {
	x.open(tag)
	x.el("internetGatewayId", g.id)
	x.el("ownerId", s.cfg.AccountID)
	x.open("attachmentSet")
	if g.vpcID != "" {
		x.open("item")
		x.el("vpcId", g.vpcID)
		x.el("state", "available")
		x.close("item")
	}
	x.close("attachmentSet")
	x.tagSet(g.tags)
	x.close(tag)
}

func (s *Server) createInternetGateway(p params, x *xw, now time.Time) *Error {
	tags, e := p.tagSpecs("internet-gateway")
	if e != nil {
		return e
	}
	g := s.st.createIGW()
	g.tags = tags
	s.writeIGW(x, g, "internetGateway")
	return nil
}

func (s *Server) attachInternetGateway(p params, x *xw, now time.Time) *Error {
	if e := s.st.attachIGW(p.get("InternetGatewayId"), p.get("VpcId")); e != nil {
		return e
	}
	x.ret()
	return nil
}

func (s *Server) describeInternetGateways(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters(igwFields().names()...)
	if e != nil {
		return e
	}
	ids := p.list("InternetGatewayId")
	for _, id := range ids {
		if _, ok := s.st.igws[id]; !ok {
			return igwNotFound(id)
		}
	}
	maxN, after, e := p.paging("igw", 5, 1000, len(ids) > 0)
	if e != nil {
		return e
	}
	var gs []*internetGateway
	for _, g := range s.st.sortedIGWs() {
		if (len(ids) == 0 || slices.Contains(ids, g.id)) && igwFields().match(igwRow{s, g}, g.tags, fs) {
			gs = append(gs, g)
		}
	}
	gs, next := pageOf(gs, maxN, after)
	x.open("internetGatewaySet")
	for _, g := range gs {
		s.writeIGW(x, g, "item")
	}
	x.close("internetGatewaySet")
	x.nextToken("igw", next)
	return nil
}
