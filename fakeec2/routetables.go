package fakeec2

import (
	"cmp"
	"net/netip"
	"slices"
)

// Route tables and internet gateways. Everything here runs with Server.mu
// held.

type route struct {
	dest netip.Prefix
	// target: "local", an igw-… or a nat-… id.
	gatewayID, natGatewayID string
	origin                  string // CreateRouteTable | CreateRoute
}

type rtAssoc struct {
	id, subnetID string // subnetID "" = the main association
}

type routeTable struct {
	id, vpcID string
	main      bool
	routes    []route
	assocs    []rtAssoc
	tags      map[string]string
	seq       uint64
}

type internetGateway struct {
	id, vpcID string // vpcID "" = detached
	tags      map[string]string
	seq       uint64
}

var (
	routeTableIDs = idKind{"rtb", "InvalidRouteTableId.Malformed"}
	igwIDs        = idKind{"igw", "InvalidInternetGatewayId.Malformed"}
	rtAssocIDs    = idKind{"rtbassoc", "InvalidAssociationID.Malformed"}
	natGatewayIDs = idKind{"nat", "InvalidNatGatewayID.Malformed"}
	allocationIDs = idKind{"eipalloc", "InvalidAllocationID.Malformed"}
	eipAssocIDs   = idKind{"eipassoc", "InvalidAssociationID.Malformed"}
)

func routeTableNotFound(id string) *Error {
	if e := routeTableIDs.check(id); e != nil {
		return e
	}
	return notFound("InvalidRouteTableID.NotFound", "routeTable", id)
}

func igwNotFound(id string) *Error {
	if e := igwIDs.check(id); e != nil {
		return e
	}
	return notFound("InvalidInternetGatewayID.NotFound", "internetGateway", id)
}

// newRouteTable makes a table with the VPC's local routes.
func (st *state) newRouteTable(v *vpc, main bool) *routeTable {
	rt := &routeTable{id: st.newID("rtb"), vpcID: v.id, main: main, tags: map[string]string{}, seq: st.nextSeq()}
	for _, c := range v.cidrs {
		rt.routes = append(rt.routes, route{dest: c.p, gatewayID: "local", origin: "CreateRouteTable"})
	}
	if main {
		rt.assocs = append(rt.assocs, rtAssoc{id: st.newID("rtbassoc")})
	}
	st.routeTables[rt.id] = rt
	return rt
}

// addLocalRoutes gives every table of the VPC the local route of a block
// just associated with it, as EC2 does.
func (st *state) addLocalRoutes(vpcID string, p netip.Prefix) {
	for _, rt := range st.routeTables {
		if rt.vpcID == vpcID {
			rt.routes = append(rt.routes, route{dest: p, gatewayID: "local", origin: "CreateRouteTable"})
		}
	}
}

func (st *state) createRouteTable(vpcID string) (*routeTable, *Error) {
	if vpcID == "" {
		return nil, missingParam("VpcId")
	}
	v, ok := st.vpcs[vpcID]
	if !ok {
		return nil, vpcNotFound(vpcID)
	}
	return st.newRouteTable(v, false), nil
}

func (st *state) findRouteTable(id string) (*routeTable, *Error) {
	if id == "" {
		return nil, missingParam("RouteTableId")
	}
	rt, ok := st.routeTables[id]
	if !ok {
		return nil, routeTableNotFound(id)
	}
	return rt, nil
}

// createRoute adds dest → target; exactly one of gatewayID and natID.
func (st *state) createRoute(rtID, dest, gatewayID, natID string) *Error {
	rt, e := st.findRouteTable(rtID)
	if e != nil {
		return e
	}
	if dest == "" {
		return missingParam("DestinationCidrBlock")
	}
	p, e := parseCIDR("DestinationCidrBlock", dest)
	if e != nil {
		return e
	}
	p = p.Masked()
	switch {
	case gatewayID == "" && natID == "":
		return errCode("MissingParameter", 400, "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, vpcPeeringConnectionId or instanceId")
	case gatewayID != "" && natID != "":
		return errCode("InvalidParameterCombination", 400, "The parameter GatewayId cannot be used with the parameter NatGatewayId")
	case gatewayID != "":
		g, ok := st.igws[gatewayID]
		if !ok {
			return errCode("InvalidGatewayID.NotFound", 400, "The gateway ID '%s' does not exist", truncate(gatewayID, 64))
		}
		if g.vpcID != rt.vpcID {
			return invalidParam("route table %s and network gateway %s belong to different networks", rt.id, g.id)
		}
	default:
		n, ok := st.natgws[natID]
		if !ok || n.state == "deleted" {
			return natGatewayNotFound(natID)
		}
		if n.subnet.vpcID != rt.vpcID {
			return invalidParam("route table %s and NAT gateway %s belong to different networks", rt.id, n.id)
		}
	}
	for _, r := range rt.routes {
		if r.dest == p {
			return errCode("RouteAlreadyExists", 400, "The route identified by %s already exists.", p)
		}
	}
	rt.routes = append(rt.routes, route{dest: p, gatewayID: gatewayID, natGatewayID: natID, origin: "CreateRoute"})
	return nil
}

func (st *state) deleteRoute(rtID, dest string) *Error {
	rt, e := st.findRouteTable(rtID)
	if e != nil {
		return e
	}
	if dest == "" {
		return missingParam("DestinationCidrBlock")
	}
	p, e := parseCIDR("DestinationCidrBlock", dest)
	if e != nil {
		return e
	}
	for i, r := range rt.routes {
		if r.dest != p.Masked() {
			continue
		}
		if r.gatewayID == "local" {
			return invalidParam("cannot remove local route %s in route table %s", p, rt.id)
		}
		rt.routes = slices.Delete(rt.routes, i, i+1)
		return nil
	}
	return errCode("InvalidRoute.NotFound", 400, "no route with destination-cidr-block %s in route table %s", p, rt.id)
}

// associateRouteTable makes rt the subnet's table, replacing nothing: a
// subnet already explicitly associated is refused, as EC2 refuses it.
func (st *state) associateRouteTable(rtID, subnetID string) (string, *Error) {
	rt, e := st.findRouteTable(rtID)
	if e != nil {
		return "", e
	}
	if subnetID == "" {
		return "", missingParam("SubnetId")
	}
	sn, ok := st.subnets[subnetID]
	if !ok {
		return "", subnetNotFound(subnetID)
	}
	if sn.vpcID != rt.vpcID {
		return "", invalidParam("Route table %s and subnet %s belong to different networks", rt.id, sn.id)
	}
	for _, o := range st.routeTables {
		for _, a := range o.assocs {
			if a.subnetID == subnetID {
				return "", errCode("Resource.AlreadyAssociated", 400, "the specified association for route table %s conflicts with an existing association", rt.id)
			}
		}
	}
	a := rtAssoc{id: st.newID("rtbassoc"), subnetID: subnetID}
	rt.assocs = append(rt.assocs, a)
	return a.id, nil
}

// subnetRouteTable is the table that routes a subnet: its explicit
// association, else its VPC's main table.
func (st *state) subnetRouteTable(sn *subnet) *routeTable {
	var main *routeTable
	for _, rt := range st.routeTables {
		if rt.vpcID != sn.vpcID {
			continue
		}
		for _, a := range rt.assocs {
			if a.subnetID == sn.id {
				return rt
			}
		}
		if rt.main {
			main = rt
		}
	}
	return main
}

func (st *state) createIGW() *internetGateway {
	g := &internetGateway{id: st.newID("igw"), tags: map[string]string{}, seq: st.nextSeq()}
	st.igws[g.id] = g
	return g
}

func (st *state) findIGW(id string) (*internetGateway, *Error) {
	if id == "" {
		return nil, missingParam("InternetGatewayId")
	}
	g, ok := st.igws[id]
	if !ok {
		return nil, igwNotFound(id)
	}
	return g, nil
}

func (st *state) attachIGW(id, vpcID string) *Error {
	g, e := st.findIGW(id)
	if e != nil {
		return e
	}
	if vpcID == "" {
		return missingParam("VpcId")
	}
	if _, ok := st.vpcs[vpcID]; !ok {
		return vpcNotFound(vpcID)
	}
	if g.vpcID != "" {
		return errCode("Resource.AlreadyAssociated", 400, "resource %s is already attached to network %s", g.id, g.vpcID)
	}
	for _, o := range st.igws {
		if o.vpcID == vpcID {
			return errCode("Resource.AlreadyAssociated", 400, "network %s already has an internet gateway attached", vpcID)
		}
	}
	g.vpcID = vpcID
	return nil
}

func (st *state) sortedRouteTables() []*routeTable {
	out := make([]*routeTable, 0, len(st.routeTables))
	for _, rt := range st.routeTables {
		out = append(out, rt)
	}
	slices.SortFunc(out, func(a, b *routeTable) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

func (st *state) sortedIGWs() []*internetGateway {
	out := make([]*internetGateway, 0, len(st.igws))
	for _, g := range st.igws {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *internetGateway) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// egressTags returns the tags of a route table, internet gateway, NAT
// gateway or Elastic IP (nil when id is none of them).
func (st *state) egressTags(id string) map[string]string {
	if rt, ok := st.routeTables[id]; ok {
		return rt.tags
	}
	if g, ok := st.igws[id]; ok {
		return g.tags
	}
	if g, ok := st.natgws[id]; ok {
		return g.tags
	}
	if x, ok := st.eips[id]; ok {
		return x.tags
	}
	return nil
}
