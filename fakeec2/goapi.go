package fakeec2

import (
	"net/netip"
	"sort"
	"strings"
	"time"
)

// The Go API: lab setup and state copies, with the wire's rules and errors.

// asErr converts a nil *Error to a nil error interface.
func asErr(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

// CreateVPC creates a VPC and its default security group.
func (s *Server) CreateVPC(spec VPCSpec) (VPC, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, e := s.st.createVPC(spec.ID, spec.CIDR, spec.SecondaryCIDRs)
	if e != nil {
		return VPC{}, e
	}
	return v.view(), nil
}

// CreateSubnet creates a subnet inside one of its VPC's CIDR blocks.
func (s *Server) CreateSubnet(spec SubnetSpec) (Subnet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, e := s.st.createSubnet(spec.ID, spec.VPCID, spec.CIDR, spec.AZ, spec.Tags)
	if e != nil {
		return Subnet{}, e
	}
	return sn.view(), nil
}

// CreateSubnetCIDRReservation reserves cidr in a subnet; reservationType is
// "prefix" (prefixes come from here first) or "explicit" (EC2 never picks
// from it on its own).
func (s *Server) CreateSubnetCIDRReservation(subnetID, cidr, reservationType string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, e := s.st.createReservation(subnetID, cidr, reservationType, "")
	return asErr(e)
}

// CreateSecurityGroup creates a security group and returns its id. A name
// that looks like a group id ("sg-1", as scenario files and ENIConfigs
// write them) becomes the id too, so such a file can name groups before
// they exist.
func (s *Server) CreateSecurityGroup(name, vpcID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, e := s.st.createSG(name, name, vpcID)
	if e != nil {
		return "", e
	}
	if strings.HasPrefix(name, "sg-") && len(name) > 3 && !s.st.idTaken(name) {
		delete(s.st.sgs, g.id)
		g.id = name
		s.st.sgs[name] = g
	}
	return g.id, nil
}

// RunInstance launches one instance with its primary ENI at device 0.
func (s *Server) RunInstance(spec InstanceSpec) (Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Clock.Now()
	ins, e := s.st.runInstances(spec.Type, spec.SubnetID, spec.SecurityGroups, netip.Addr{}, 1, defaultAMI, nil, now)
	if e != nil {
		return Instance{}, e
	}
	s.emitLaunch(ins, now)
	return ins[0].view(), nil
}

// TerminateInstance terminates an instance: every ENI is detached and those
// marked DeleteOnTermination are deleted. Terminating a terminated
// instance is a no-op, as in EC2.
func (s *Server) TerminateInstance(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.st.instances[id]
	if !ok {
		return instanceNotFound(id)
	}
	s.terminateLocked(in)
	return nil
}

func (s *Server) terminateLocked(in *instance) {
	if in.state != "running" {
		return
	}
	now := s.cfg.Clock.Now()
	detached, deleted := s.st.terminate(in)
	for _, n := range detached {
		s.emit(Event{Kind: ENIDetached, InstanceID: in.id, ENI: n.view(), At: now})
	}
	for _, n := range deleted {
		s.emit(Event{Kind: ENIDeleted, InstanceID: in.id, ENI: n.view(), At: now})
	}
	s.emit(Event{Kind: InstanceTerminated, InstanceID: in.id, At: now})
}

func (s *Server) emitLaunch(ins []*instance, now time.Time) {
	for _, in := range ins {
		for _, n := range in.enis {
			s.emit(Event{Kind: ENIAttached, InstanceID: in.id, ENI: n.view(), At: now})
		}
	}
}

// Instance returns a running instance.
func (s *Server) Instance(id string) (Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.st.instances[id]
	if !ok || in.state != "running" {
		return Instance{}, false
	}
	return in.view(), true
}

// ENI returns a network interface.
func (s *Server) ENI(id string) (ENI, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.st.enis[id]
	if !ok {
		return ENI{}, false
	}
	return n.view(), true
}

// ENIs returns every network interface in creation order.
func (s *Server) ENIs() []ENI {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ENI, 0, len(s.st.enis))
	for _, n := range s.st.eniList {
		if !n.deleted {
			out = append(out, n.view())
		}
	}
	return out
}

// Subnet returns a subnet.
func (s *Server) Subnet(id string) (Subnet, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, ok := s.st.subnets[id]
	if !ok {
		return Subnet{}, false
	}
	return sn.view(), true
}

// Subnets returns every subnet in creation order.
func (s *Server) Subnets() []Subnet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subnetViewsLocked()
}

func (s *Server) subnetViewsLocked() []Subnet {
	sns := s.st.sortedSubnets()
	out := make([]Subnet, 0, len(sns))
	for _, sn := range sns {
		out = append(out, sn.view())
	}
	return out
}

func (st *state) sortedSubnets() []*subnet {
	out := make([]*subnet, 0, len(st.subnets))
	for _, sn := range st.subnets {
		out = append(out, sn)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// VPC returns a VPC.
func (s *Server) VPC(id string) (VPC, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.st.vpcs[id]
	if !ok {
		return VPC{}, false
	}
	return v.view(), true
}

// SecurityGroup returns a security group with its rules.
func (s *Server) SecurityGroup(id string) (SecurityGroup, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.st.sgs[id]
	if !ok {
		return SecurityGroup{}, false
	}
	return g.view(), true
}

// TrunkAssociations returns every branch-to-trunk association in creation
// order.
func (s *Server) TrunkAssociations() []TrunkAssociation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TrunkAssociation
	for _, a := range s.st.sortedTrunks() {
		out = append(out, TrunkAssociation{ID: a.id, TrunkENI: a.trunk.id, BranchENI: a.branch.id, VLANID: a.vlan})
	}
	return out
}
