package fakeec2

import (
	"fmt"
	"slices"
	"sort"
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
	s.writeVPCIPv6(x, v)
	x.el("dhcpOptionsId", dhcpOptionsID)
	x.el("instanceTenancy", "default")
	x.elBool("isDefault", false)
	x.raw("<blockPublicAccessStates><internetGatewayBlockMode>off</internetGatewayBlockMode></blockPublicAccessStates>")
	x.tagSet(v.tags)
	x.close(tag)
}

func (s *Server) createVpc(p params, x *xw, now time.Time) *Error {
	tags, e := p.tagSpecs("vpc")
	if e != nil {
		return e
	}
	ipv6, e := p.boolean("AmazonProvidedIpv6CidrBlock")
	if e != nil {
		return e
	}
	v, e := s.st.createVPC("", p.get("CidrBlock"), nil)
	if e != nil {
		return e
	}
	if ipv6 {
		if _, e := s.st.associateVPCIPv6(v.id); e != nil {
			_ = s.st.deleteVPC(v.id)
			return e
		}
	}
	v.tags = tags
	s.writeVPC(x, v, "vpc")
	return nil
}

func (s *Server) describeVpcs(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters(vpcFields().names()...)
	if e != nil {
		return e
	}
	ids := p.list("VpcId")
	for _, id := range ids {
		if _, ok := s.st.vpcs[id]; !ok {
			return vpcNotFound(id)
		}
	}
	maxN, after, e := p.paging("vpc", 5, 1000, len(ids) > 0)
	if e != nil {
		return e
	}
	var vs []*vpc
	for _, v := range s.st.vpcs {
		if len(ids) > 0 && !slices.Contains(ids, v.id) {
			continue
		}
		if vpcFields().match(vpcRow{s, v}, v.tags, fs) {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].id < vs[j].id })
	vs, next := pageOf(vs, maxN, after)
	x.open("vpcSet")
	for _, v := range vs {
		s.writeVPC(x, v, "item")
	}
	x.close("vpcSet")
	x.nextToken("vpc", next)
	return nil
}

func (s *Server) associateVpcCidrBlock(p params, x *xw, now time.Time) *Error {
	id, e := p.required("VpcId")
	if e != nil {
		return e
	}
	ipv6, e := p.boolean("AmazonProvidedIpv6CidrBlock")
	if e != nil {
		return e
	}
	if ipv6 {
		return s.associateVPCIPv6Block(p, x, id)
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
	x.el("subnetArn", s.subnetARN(sn))
	x.el("state", "available")
	x.el("ownerId", s.cfg.AccountID)
	x.el("vpcId", sn.vpcID)
	x.el("cidrBlock", sn.cidr.String())
	writeSubnetIPv6(x, sn)
	x.elInt("availableIpAddressCount", sn.free)
	x.el("availabilityZone", sn.az)
	x.el("availabilityZoneId", s.st.azID(sn.az))
	x.elBool("defaultForAz", false)
	x.elBool("mapPublicIpOnLaunch", sn.mapPublic)
	x.elBool("assignIpv6AddressOnCreation", false)
	x.elBool("mapCustomerOwnedIpOnLaunch", false)
	x.elBool("enableDns64", false)
	x.elBool("ipv6Native", false)
	x.raw("<privateDnsNameOptionsOnLaunch><hostnameType>ip-name</hostnameType><enableResourceNameDnsARecord>false</enableResourceNameDnsARecord>" +
		"<enableResourceNameDnsAAAARecord>false</enableResourceNameDnsAAAARecord></privateDnsNameOptionsOnLaunch>")
	x.raw("<blockPublicAccessStates><internetGatewayBlockMode>off</internetGatewayBlockMode></blockPublicAccessStates>")
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
	if c := p.get("Ipv6CidrBlock"); c != "" {
		if _, e := s.st.associateSubnetIPv6(sn, c); e != nil {
			_ = s.st.deleteSubnet(sn.id)
			return e
		}
	}
	s.writeSubnet(x, sn, "subnet")
	return nil
}

func (s *Server) describeSubnets(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters(subnetFields().names()...)
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
	return subnetFields().match(subnetRow{s, sn}, sn.tags, fs)
}

func (s *Server) subnetARN(sn *subnet) string {
	return fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", s.cfg.Region, s.cfg.AccountID, sn.id)
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
	fs, e := p.filters(reservationFields().names()...)
	if e != nil {
		return e
	}
	id, e := p.required("SubnetId")
	if e != nil {
		return e
	}
	sn, ok := s.st.subnets[id]
	if !ok {
		return subnetNotFound(id)
	}
	maxN, after, e := p.paging("scr", 5, 1000, false)
	if e != nil {
		return e
	}
	var rs []*reservation
	for _, r := range sn.reservations {
		if reservationFields().match(r, nil, fs) {
			rs = append(rs, r)
		}
	}
	rs, next := pageOf(rs, maxN, after)
	x.open("subnetIpv4CidrReservationSet")
	for _, r := range rs {
		s.writeReservation(x, r, "item")
	}
	x.close("subnetIpv4CidrReservationSet")
	x.raw("<subnetIpv6CidrReservationSet/>")
	x.nextToken("scr", next)
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
	x.el("securityGroupArn", s.groupARN(g.id))
	return nil
}

func (s *Server) describeSecurityGroups(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters(groupFields().names()...)
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
	maxN, after, e := p.paging("sg", 5, 1000, len(ids) > 0 || len(names) > 0)
	if e != nil {
		return e
	}
	var gs []*secGroup
	for _, g := range s.st.sgs {
		if len(ids) > 0 && !slices.Contains(ids, g.id) {
			continue
		}
		if len(names) > 0 && !slices.Contains(names, g.name) {
			continue
		}
		if groupFields().match(groupRow{s, g}, g.tags, fs) {
			gs = append(gs, g)
		}
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].id < gs[j].id })
	gs, next := pageOf(gs, maxN, after)
	x.open("securityGroupInfo")
	for _, g := range gs {
		s.writeGroup(x, g)
	}
	x.close("securityGroupInfo")
	x.nextToken("sg", next)
	return nil
}

func (s *Server) writeGroup(x *xw, g *secGroup) {
	x.open("item")
	x.el("ownerId", s.cfg.AccountID)
	x.el("groupId", g.id)
	x.el("groupName", g.name)
	x.el("groupDescription", g.desc)
	x.el("vpcId", g.vpcID)
	x.el("securityGroupArn", s.groupARN(g.id))
	s.writePermissions(x, "ipPermissions", g, false)
	s.writePermissions(x, "ipPermissionsEgress", g, true)
	x.tagSet(g.tags)
	x.close("item")
}

func (s *Server) groupARN(id string) string {
	return fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", s.cfg.Region, s.cfg.AccountID, id)
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
