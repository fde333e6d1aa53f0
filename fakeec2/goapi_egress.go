package fakeec2

import (
	"net/netip"
	"strings"
)

// The Go API of the VPC's way out: internet gateways, route tables, Elastic
// IPs and NAT gateways, with the wire's rules and errors.

// Route is one route of a route table: Dest to a target, "local", an
// igw-… or a nat-… id.
type Route struct {
	Dest   netip.Prefix
	Target string
	// Blackhole: the target is gone (a deleted NAT gateway, a detached
	// internet gateway).
	Blackhole bool
}

// NATGateway is a copy of a NAT gateway's state.
type NATGateway struct {
	ID        string
	SubnetID  string
	ENIID     string
	PrivateIP netip.Addr
	PublicIP  netip.Addr
	State     string
}

func (g *natGateway) view() NATGateway {
	return NATGateway{ID: g.id, SubnetID: g.subnet.id, ENIID: g.n.id, PrivateIP: g.eipPrivate(), PublicIP: g.eip.public, State: g.state}
}

// CreateInternetGateway creates an internet gateway and attaches it to vpcID.
func (s *Server) CreateInternetGateway(vpcID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.st.createIGW()
	if e := s.st.attachIGW(g.id, vpcID); e != nil {
		delete(s.st.igws, g.id)
		return "", e
	}
	return g.id, nil
}

// CreateRouteTable creates a route table (with its VPC's local routes) and
// returns its id.
func (s *Server) CreateRouteTable(vpcID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, e := s.st.createRouteTable(vpcID)
	if e != nil {
		return "", e
	}
	return rt.id, nil
}

// CreateRoute adds dest → target to a route table; target is an igw-… or
// a nat-… id.
func (s *Server) CreateRoute(routeTableID, dest, target string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasPrefix(target, "nat-") {
		return asErr(s.st.createRoute(routeTableID, dest, "", target))
	}
	return asErr(s.st.createRoute(routeTableID, dest, target, ""))
}

// AssociateRouteTable makes a route table the subnet's.
func (s *Server) AssociateRouteTable(routeTableID, subnetID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, e := s.st.associateRouteTable(routeTableID, subnetID)
	return asErr(e)
}

// AllocateAddress allocates an Elastic IP.
func (s *Server) AllocateAddress() (allocationID string, public netip.Addr, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, e := s.st.allocateAddress("vpc")
	if e != nil {
		return "", netip.Addr{}, e
	}
	return x.allocID, x.public, nil
}

// CreateNATGateway creates a public NAT gateway in a subnet holding the
// Elastic IP allocationID.
func (s *Server) CreateNATGateway(subnetID, allocationID string) (NATGateway, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, e := s.st.createNatGateway(subnetID, allocationID, "public", s.cfg.Clock.Now())
	if e != nil {
		return NATGateway{}, e
	}
	return g.view(), nil
}

// NATGateways returns the NAT gateways not deleted, in creation order.
func (s *Server) NATGateways() []NATGateway {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []NATGateway
	for _, g := range s.st.sortedNatGateways() {
		if g.state != "deleted" {
			out = append(out, g.view())
		}
	}
	return out
}

// SubnetRoutes returns the routes of the table routing a subnet (its own,
// else its VPC's main table).
func (s *Server) SubnetRoutes(subnetID string) ([]Route, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, ok := s.st.subnets[subnetID]
	if !ok {
		return nil, subnetNotFound(subnetID)
	}
	rt := s.st.subnetRouteTable(sn)
	if rt == nil {
		return nil, nil
	}
	out := make([]Route, 0, len(rt.routes))
	for _, r := range rt.routes {
		t := r.gatewayID
		if r.natGatewayID != "" {
			t = r.natGatewayID
		}
		out = append(out, Route{Dest: r.dest, Target: t, Blackhole: s.routeState(r) == "blackhole"})
	}
	return out, nil
}

// PublicMappings returns the internet gateway's 1:1 NAT: every private
// address with a public one (primary addresses of ENIs with a public IP).
func (s *Server) PublicMappings() map[netip.Addr]netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[netip.Addr]netip.Addr{}
	for _, n := range s.st.enis {
		if n.public.IsValid() && len(n.ips) > 0 {
			out[n.ips[0].a] = n.public
		}
	}
	return out
}
