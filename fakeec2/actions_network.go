package fakeec2

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Wire handlers for VPCs, subnets, reservations and security groups.

// ---- VPCs ----

func (s *Server) writeVPC(x *xw, v *vpc, tag string) {
	x.open(tag)
	x.el("vpcId", v.id)
	x.el("ownerId", s.cfg.AccountID)
	x.el("state", "available")
	x.el("cidrBlock", v.cidrs[0].p.String())
	x.open("cidrBlockAssociationSet")
	for _, c := range v.cidrs {
		x.open("item")
		x.el("associationId", c.id)
		x.el("cidrBlock", c.p.String())
		x.raw("<cidrBlockState><state>associated</state></cidrBlockState>")
		x.close("item")
	}
	x.close("cidrBlockAssociationSet")
	x.el("dhcpOptionsId", "dopt-00000000000000001")
	x.el("instanceTenancy", "default")
	x.elBool("isDefault", false)
	x.tagSet(v.tags)
	x.close(tag)
}

func (s *Server) createVpc(p params, x *xw, now time.Time) *Error {
	tags, e := p.tagSpecs("vpc")
	if e != nil {
		return e
	}
	v, e := s.st.createVPC("", p.get("CidrBlock"), nil)
	if e != nil {
		return e
	}
	v.tags = tags
	s.writeVPC(x, v, "vpc")
	return nil
}

func (s *Server) describeVpcs(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters("vpc-id", "cidr", "cidr-block-association.cidr-block", "cidr-block-association.association-id", "state", "owner-id", "is-default")
	if e != nil {
		return e
	}
	ids := p.list("VpcId")
	for _, id := range ids {
		if _, ok := s.st.vpcs[id]; !ok {
			return vpcNotFound(id)
		}
	}
	var vs []*vpc
	for _, v := range s.st.vpcs {
		if len(ids) > 0 && !slices.Contains(ids, v.id) {
			continue
		}
		if vpcMatches(v, fs, s.cfg.AccountID) {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].id < vs[j].id })
	x.open("vpcSet")
	for _, v := range vs {
		s.writeVPC(x, v, "item")
	}
	x.close("vpcSet")
	return nil
}

func vpcMatches(v *vpc, fs []filter, owner string) bool {
	for _, f := range fs {
		if m, ok := tagFilter(f, v.tags); ok {
			if !m {
				return false
			}
			continue
		}
		var ok bool
		switch f.name {
		case "vpc-id":
			ok = anyMatch(f.values, v.id)
		case "cidr":
			ok = anyMatch(f.values, v.cidrs[0].p.String())
		case "cidr-block-association.cidr-block":
			for _, c := range v.cidrs {
				ok = ok || anyMatch(f.values, c.p.String())
			}
		case "cidr-block-association.association-id":
			for _, c := range v.cidrs {
				ok = ok || anyMatch(f.values, c.id)
			}
		case "state":
			ok = anyMatch(f.values, "available")
		case "owner-id":
			ok = anyMatch(f.values, owner)
		case "is-default":
			ok = anyMatch(f.values, "false")
		}
		if !ok {
			return false
		}
	}
	return true
}

func (s *Server) associateVpcCidrBlock(p params, x *xw, now time.Time) *Error {
	id, e := p.required("VpcId")
	if e != nil {
		return e
	}
	a, e := s.st.associateVPCCIDR(id, p.get("CidrBlock"))
	if e != nil {
		return e
	}
	x.open("cidrBlockAssociation")
	x.el("associationId", a.id)
	x.el("cidrBlock", a.p.String())
	x.raw("<cidrBlockState><state>associated</state></cidrBlockState>")
	x.close("cidrBlockAssociation")
	x.el("vpcId", id)
	return nil
}

// ---- subnets ----

func (s *Server) writeSubnet(x *xw, sn *subnet, tag string) {
	x.open(tag)
	x.el("subnetId", sn.id)
	x.el("subnetArn", fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", s.cfg.Region, s.cfg.AccountID, sn.id))
	x.el("state", "available")
	x.el("ownerId", s.cfg.AccountID)
	x.el("vpcId", sn.vpcID)
	x.el("cidrBlock", sn.cidr.String())
	x.raw("<ipv6CidrBlockAssociationSet/>")
	x.elInt("availableIpAddressCount", sn.free)
	x.el("availabilityZone", sn.az)
	x.el("availabilityZoneId", s.st.azID(sn.az))
	x.elBool("defaultForAz", false)
	x.elBool("mapPublicIpOnLaunch", false)
	x.elBool("assignIpv6AddressOnCreation", false)
	x.tagSet(sn.tags)
	x.close(tag)
}

func (s *Server) createSubnet(p params, x *xw, now time.Time) *Error {
	tags, e := p.tagSpecs("subnet")
	if e != nil {
		return e
	}
	sn, e := s.st.createSubnet("", p.get("VpcId"), p.get("CidrBlock"), p.get("AvailabilityZone"), tags)
	if e != nil {
		return e
	}
	s.writeSubnet(x, sn, "subnet")
	return nil
}

func (s *Server) describeSubnets(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters("subnet-id", "vpc-id", "availability-zone", "availability-zone-id", "cidr-block", "cidr", "cidrBlock", "state", "default-for-az", "owner-id", "available-ip-address-count")
	if e != nil {
		return e
	}
	ids := p.list("SubnetId")
	for _, id := range ids {
		if _, ok := s.st.subnets[id]; !ok {
			return subnetNotFound(id)
		}
	}
	maxN, after, e := p.paging("subnet", 5, 1000, len(ids) > 0)
	if e != nil {
		return e
	}
	x.open("subnetSet")
	n := 0
	var next uint64
	for _, sn := range s.st.sortedSubnets() {
		if sn.seq < after || (len(ids) > 0 && !slices.Contains(ids, sn.id)) || !s.subnetMatches(sn, fs) {
			continue
		}
		if maxN > 0 && n == maxN {
			next = sn.seq
			break
		}
		s.writeSubnet(x, sn, "item")
		n++
	}
	x.close("subnetSet")
	if next != 0 {
		x.el("nextToken", encodeToken("subnet", next))
	}
	return nil
}

func (s *Server) subnetMatches(sn *subnet, fs []filter) bool {
	for _, f := range fs {
		if m, ok := tagFilter(f, sn.tags); ok {
			if !m {
				return false
			}
			continue
		}
		var v string
		switch f.name {
		case "subnet-id":
			v = sn.id
		case "vpc-id":
			v = sn.vpcID
		case "availability-zone":
			v = sn.az
		case "availability-zone-id":
			v = s.st.azID(sn.az)
		case "cidr-block", "cidr", "cidrBlock":
			v = sn.cidr.String()
		case "state":
			v = "available"
		case "default-for-az":
			v = "false"
		case "owner-id":
			v = s.cfg.AccountID
		case "available-ip-address-count":
			v = strconv.Itoa(sn.free)
		}
		if !anyMatch(f.values, v) {
			return false
		}
	}
	return true
}

func (s *Server) writeReservation(x *xw, r *reservation, tag string) {
	x.open(tag)
	x.el("subnetCidrReservationId", r.id)
	x.el("subnetId", r.subnetID)
	x.el("cidr", r.p.String())
	x.el("reservationType", r.typ)
	x.el("ownerId", s.cfg.AccountID)
	if r.desc != "" {
		x.el("description", r.desc)
	}
	x.raw("<tagSet/>")
	x.close(tag)
}

func (s *Server) createSubnetCidrReservation(p params, x *xw, now time.Time) *Error {
	r, e := s.st.createReservation(p.get("SubnetId"), p.get("Cidr"), p.get("ReservationType"), p.get("Description"))
	if e != nil {
		return e
	}
	s.writeReservation(x, r, "subnetCidrReservation")
	return nil
}

func (s *Server) getSubnetCidrReservations(p params, x *xw, now time.Time) *Error {
	id, e := p.required("SubnetId")
	if e != nil {
		return e
	}
	sn, ok := s.st.subnets[id]
	if !ok {
		return subnetNotFound(id)
	}
	x.open("subnetIpv4CidrReservationSet")
	for _, r := range sn.reservations {
		s.writeReservation(x, r, "item")
	}
	x.close("subnetIpv4CidrReservationSet")
	x.raw("<subnetIpv6CidrReservationSet/>")
	return nil
}

// ---- security groups ----

func (s *Server) createSecurityGroup(p params, x *xw, now time.Time) *Error {
	name, e := p.required("GroupName")
	if e != nil {
		return e
	}
	if strings.HasPrefix(strings.ToLower(name), "sg-") {
		return invalidParam("Group names may not be in the format sg-*.")
	}
	desc, e := p.required("GroupDescription")
	if e != nil {
		return e
	}
	tags, e := p.tagSpecs("security-group")
	if e != nil {
		return e
	}
	g, e := s.st.createSG(name, desc, p.get("VpcId"))
	if e != nil {
		return e
	}
	g.tags = tags
	x.ret()
	x.el("groupId", g.id)
	x.el("securityGroupArn", fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", s.cfg.Region, s.cfg.AccountID, g.id))
	return nil
}

func (s *Server) describeSecurityGroups(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters("group-id", "group-name", "vpc-id", "description", "owner-id")
	if e != nil {
		return e
	}
	ids := p.list("GroupId")
	for _, id := range ids {
		if _, ok := s.st.sgs[id]; !ok {
			return groupNotFound(id)
		}
	}
	names := p.list("GroupName")
	var gs []*secGroup
	for _, g := range s.st.sgs {
		if len(ids) > 0 && !slices.Contains(ids, g.id) {
			continue
		}
		if len(names) > 0 && !slices.Contains(names, g.name) {
			continue
		}
		ok := true
		for _, f := range fs {
			if m, isTag := tagFilter(f, g.tags); isTag {
				ok = ok && m
				continue
			}
			v := map[string]string{"group-id": g.id, "group-name": g.name, "vpc-id": g.vpcID, "description": g.desc, "owner-id": s.cfg.AccountID}[f.name]
			ok = ok && anyMatch(f.values, v)
		}
		if ok {
			gs = append(gs, g)
		}
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].id < gs[j].id })
	x.open("securityGroupInfo")
	for _, g := range gs {
		x.open("item")
		x.el("ownerId", s.cfg.AccountID)
		x.el("groupId", g.id)
		x.el("groupName", g.name)
		x.el("groupDescription", g.desc)
		x.el("vpcId", g.vpcID)
		x.raw("<ipPermissions/><ipPermissionsEgress/>")
		x.tagSet(g.tags)
		x.close("item")
	}
	x.close("securityGroupInfo")
	return nil
}

func (s *Server) groupSet(x *xw, ids []string) {
	x.open("groupSet")
	for _, id := range ids {
		x.open("item")
		x.el("groupId", id)
		if g, ok := s.st.sgs[id]; ok {
			x.el("groupName", g.name)
		}
		x.close("item")
	}
	x.close("groupSet")
}

// ---- deletion ----

func (s *Server) deleteSubnetCidrReservation(p params, x *xw, now time.Time) *Error {
	r, e := s.st.deleteReservation(p.get("SubnetCidrReservationId"))
	if e != nil {
		return e
	}
	s.writeReservation(x, r, "deletedSubnetCidrReservation")
	x.ret()
	return nil
}

func (s *Server) deleteSubnet(p params, x *xw, now time.Time) *Error {
	if e := s.st.deleteSubnet(p.get("SubnetId")); e != nil {
		return e
	}
	x.ret()
	return nil
}

func (s *Server) deleteVpc(p params, x *xw, now time.Time) *Error {
	if e := s.st.deleteVPC(p.get("VpcId")); e != nil {
		return e
	}
	x.ret()
	return nil
}

func (s *Server) deleteSecurityGroup(p params, x *xw, now time.Time) *Error {
	if p.get("GroupId") == "" && p.get("GroupName") != "" {
		return invalidParam("Deleting a group by name needs a default VPC; pass GroupId.")
	}
	if e := s.st.deleteSG(p.get("GroupId")); e != nil {
		return e
	}
	x.ret()
	return nil
}
