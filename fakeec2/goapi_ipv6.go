package fakeec2

import "net/netip"

// AssociateVPCIPv6 gives the VPC an Amazon-provided /56, as
// AssociateVpcCidrBlock with AmazonProvidedIpv6CidrBlock does.
func (s *Server) AssociateVPCIPv6(vpcID string) (netip.Prefix, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, e := s.st.associateVPCIPv6(vpcID)
	if e != nil {
		return netip.Prefix{}, e
	}
	return a.p, nil
}

// AssociateSubnetIPv6 gives the subnet its /64 (inside one of its VPC's
// IPv6 blocks), as AssociateSubnetCidrBlock with Ipv6CidrBlock does.
func (s *Server) AssociateSubnetIPv6(subnetID string, cidr netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, ok := s.st.subnets[subnetID]
	if !ok {
		return subnetNotFound(subnetID)
	}
	_, e := s.st.associateSubnetIPv6(sn, cidr.String())
	return asErr(e)
}
