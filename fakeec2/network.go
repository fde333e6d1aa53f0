package fakeec2

import (
	"maps"
	"net/netip"
)

// VPCs, subnets with their address accounting and reservations, and
// security groups. Everything here runs with Server.mu held.

// ---- VPCs and subnets ----

func (st *state) createVPC(id, cidr string, secondary []string) (*vpc, *Error) {
	if cidr == "" {
		return nil, missingParam("CidrBlock")
	}
	p, e := parseCIDR("CidrBlock", cidr)
	if e != nil {
		return nil, e
	}
	if p.Bits() < 16 || p.Bits() > 28 {
		return nil, errCode("InvalidVpc.Range", 400, "The CIDR '%s' is invalid: a VPC block must be between /16 and /28.", cidr)
	}
	if len(st.vpcs) >= maxVPCs {
		return nil, errCode("VpcLimitExceeded", 400, "The maximum number of VPCs (%d) has been reached.", maxVPCs)
	}
	var extra []netip.Prefix
	for _, s := range secondary {
		q, e := st.checkVPCBlock(append([]netip.Prefix{p}, extra...), s)
		if e != nil {
			return nil, e
		}
		extra = append(extra, q)
	}
	if id == "" {
		id = st.newID("vpc")
	} else if st.idTaken(id) {
		return nil, invalidParam("The id '%s' is already in use.", id)
	}
	v := &vpc{id: id, tags: map[string]string{}}
	v.cidrs = append(v.cidrs, cidrAssoc{st.newID("vpc-cidr-assoc"), p})
	for _, q := range extra {
		v.cidrs = append(v.cidrs, cidrAssoc{st.newID("vpc-cidr-assoc"), q})
	}
	st.vpcs[id] = v
	sg := &secGroup{id: st.newID("sg"), name: "default", desc: "default VPC security group", vpcID: id, tags: map[string]string{}}
	sg.rules = []*sgRule{{id: st.newID("sgr"), proto: "-1", from: -1, to: -1, group: sg.id}, st.allEgress()}
	st.sgs[sg.id] = sg
	v.defaultSG = sg.id
	return v, nil
}

func (st *state) checkVPCBlock(have []netip.Prefix, s string) (netip.Prefix, *Error) {
	q, e := parseCIDR("CidrBlock", s)
	if e != nil {
		return q, e
	}
	if q.Bits() < 16 || q.Bits() > 28 {
		return q, errCode("InvalidVpc.Range", 400, "The CIDR '%s' is invalid: a VPC block must be between /16 and /28.", s)
	}
	if len(have) >= 5 {
		return q, errCode("CidrLimitExceeded", 400, "This network '%s' has met its maximum number of allowed CIDRs: 5", have[0])
	}
	for _, h := range have {
		if h.Overlaps(q) {
			return q, errCode("InvalidVpc.Range", 400, "The CIDR '%s' overlaps with the VPC's CIDR '%s'.", s, h)
		}
	}
	return q, nil
}

func (st *state) associateVPCCIDR(vpcID, cidr string) (cidrAssoc, *Error) {
	v, ok := st.vpcs[vpcID]
	if !ok {
		return cidrAssoc{}, vpcNotFound(vpcID)
	}
	if cidr == "" {
		return cidrAssoc{}, missingParam("CidrBlock")
	}
	var have []netip.Prefix
	for _, c := range v.cidrs {
		have = append(have, c.p)
	}
	q, e := st.checkVPCBlock(have, cidr)
	if e != nil {
		return cidrAssoc{}, e
	}
	a := cidrAssoc{st.newID("vpc-cidr-assoc"), q}
	v.cidrs = append(v.cidrs, a)
	return a, nil
}

func (st *state) createSubnet(id, vpcID, cidr, az string, tags map[string]string) (*subnet, *Error) {
	if vpcID == "" {
		return nil, missingParam("VpcId")
	}
	if cidr == "" {
		return nil, missingParam("CidrBlock")
	}
	v, ok := st.vpcs[vpcID]
	if !ok {
		return nil, vpcNotFound(vpcID)
	}
	p, e := parseCIDR("CidrBlock", cidr)
	if e != nil {
		return nil, e
	}
	if p.Bits() < 16 || p.Bits() > 28 {
		return nil, errCode("InvalidSubnet.Range", 400, "The CIDR '%s' is invalid: a subnet must be between /16 and /28.", cidr)
	}
	inside := false
	for _, c := range v.cidrs {
		if c.p.Bits() <= p.Bits() && c.p.Contains(p.Addr()) {
			inside = true
		}
	}
	if !inside {
		return nil, errCode("InvalidSubnet.Range", 400, "The CIDR '%s' is invalid.", cidr)
	}
	inVPC := 0
	for _, o := range st.subnets {
		if o.vpcID == vpcID {
			inVPC++
		}
	}
	if inVPC >= maxSubnetsPerVPC {
		return nil, errCode("SubnetLimitExceeded", 400, "The maximum number of subnets (%d) for VPC '%s' has been reached.", maxSubnetsPerVPC, vpcID)
	}
	for _, o := range st.subnets {
		if o.vpcID == vpcID && o.cidr.Overlaps(p) {
			return nil, errCode("InvalidSubnet.Conflict", 400, "The CIDR '%s' conflicts with another subnet", cidr)
		}
	}
	if az == "" {
		az = st.region + "a"
	}
	if e := st.checkSubnetZone(az); e != nil {
		return nil, e
	}
	if id == "" {
		id = st.newID("subnet")
	} else if st.idTaken(id) {
		return nil, invalidParam("The id '%s' is already in use.", id)
	}
	size := uint32(1) << (32 - p.Bits())
	sn := &subnet{
		id: id, vpcID: vpcID, az: az, cidr: p,
		base: addrToU32(p.Addr()), size: size, seq: st.nextSeq(),
		used: newBitset(size), resvPrefix: newBitset(size), resvExplicit: newBitset(size),
		ipOwner: map[uint32]*eni{}, pfxOwner: map[uint32]*eni{}, tags: map[string]string{},
	}
	for i := size; i < uint32(len(sn.used))*64; i++ {
		sn.used.set(i)
	}
	for _, off := range []uint32{0, 1, 2, 3, size - 1} {
		sn.used.set(off)
	}
	sn.free = int(size) - 5
	maps.Copy(sn.tags, tags)
	st.subnets[id] = sn
	return sn, nil
}

func (st *state) createReservation(subnetID, cidr, typ, desc string) (*reservation, *Error) {
	if subnetID == "" {
		return nil, missingParam("SubnetId")
	}
	if cidr == "" {
		return nil, missingParam("Cidr")
	}
	if typ == "" {
		return nil, missingParam("ReservationType")
	}
	sn, ok := st.subnets[subnetID]
	if !ok {
		return nil, subnetNotFound(subnetID)
	}
	if typ != "prefix" && typ != "explicit" {
		return nil, invalidParam("Value (%s) for parameter ReservationType is invalid. Valid values: prefix, explicit.", typ)
	}
	p, e := parseCIDR("Cidr", cidr)
	if e != nil {
		return nil, e
	}
	if p.Bits() < sn.cidr.Bits() || !sn.cidr.Contains(p.Addr()) {
		return nil, invalidParam("The CIDR '%s' is not within the subnet CIDR '%s'.", cidr, sn.cidr)
	}
	for _, r := range sn.reservations {
		if r.p.Overlaps(p) {
			return nil, invalidParam("The CIDR '%s' overlaps with the existing reservation '%s' (%s).", cidr, r.id, r.p)
		}
	}
	r := &reservation{id: st.newID("scr"), subnetID: subnetID, typ: typ, desc: desc, p: p}
	start := addrToU32(p.Addr()) - sn.base
	n := uint32(1) << (32 - p.Bits())
	set := sn.resvPrefix
	if typ == "explicit" {
		set = sn.resvExplicit
	}
	for off := start; off < start+n; off++ {
		if !sn.used.has(off) && !sn.reserved(off) {
			sn.free--
		}
		set.set(off)
	}
	sn.reservations = append(sn.reservations, r)
	st.reservations[r.id] = r
	return r, nil
}

// ---- security groups ----

func (st *state) createSG(name, desc, vpcID string) (*secGroup, *Error) {
	if name == "" {
		return nil, missingParam("GroupName")
	}
	if vpcID == "" {
		return nil, errCode("VPCIdNotSpecified", 400, "No default VPC for this user")
	}
	if _, ok := st.vpcs[vpcID]; !ok {
		return nil, vpcNotFound(vpcID)
	}
	for _, g := range st.sgs {
		if g.vpcID == vpcID && g.name == name {
			return nil, errCode("InvalidGroup.Duplicate", 400, "The security group '%s' already exists for VPC '%s'", name, vpcID)
		}
	}
	g := &secGroup{id: st.newID("sg"), name: name, desc: desc, vpcID: vpcID, tags: map[string]string{}}
	g.rules = []*sgRule{st.allEgress()}
	st.sgs[g.id] = g
	return g, nil
}

// checkGroups resolves the groups a request names (the VPC's default group
// when it names none); an unknown group is answered with notFound, since
// EC2's code for it differs between actions.
func (st *state) checkGroups(vpcID string, ids []string, notFound func(id string) *Error) ([]string, *Error) {
	if len(ids) == 0 {
		return []string{st.vpcs[vpcID].defaultSG}, nil
	}
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		g, ok := st.sgs[id]
		if !ok {
			return nil, notFound(id)
		}
		if g.vpcID != vpcID {
			return nil, invalidParam("Security group %s and subnet belong to different networks.", id)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// ---- deletion ----

func (st *state) deleteReservation(id string) (*reservation, *Error) {
	if id == "" {
		return nil, missingParam("SubnetCidrReservationId")
	}
	r, ok := st.reservations[id]
	if !ok {
		return nil, errCode("InvalidSubnetCidrReservationID.NotFound", 400, "The subnetCidrReservation ID '%s' does not exist", id)
	}
	sn := st.subnets[r.subnetID]
	start := addrToU32(r.p.Addr()) - sn.base
	n := uint32(1) << (32 - r.p.Bits())
	set := sn.resvPrefix
	if r.typ == "explicit" {
		set = sn.resvExplicit
	}
	for off := start; off < start+n; off++ {
		set.clear(off)
		if !sn.used.has(off) && !sn.reserved(off) {
			sn.free++
		}
	}
	for i, o := range sn.reservations {
		if o == r {
			sn.reservations = append(sn.reservations[:i], sn.reservations[i+1:]...)
			break
		}
	}
	delete(st.reservations, id)
	return r, nil
}

func (st *state) deleteSubnet(id string) *Error {
	if id == "" {
		return missingParam("SubnetId")
	}
	sn, ok := st.subnets[id]
	if !ok {
		return subnetNotFound(id)
	}
	if len(sn.ipOwner) > 0 || len(sn.pfxOwner) > 0 {
		return errCode("DependencyViolation", 400, "The subnet '%s' has dependencies and cannot be deleted.", id)
	}
	for _, r := range sn.reservations {
		delete(st.reservations, r.id)
	}
	delete(st.subnets, id)
	return nil
}

func (st *state) deleteVPC(id string) *Error {
	if id == "" {
		return missingParam("VpcId")
	}
	v, ok := st.vpcs[id]
	if !ok {
		return vpcNotFound(id)
	}
	for _, sn := range st.subnets {
		if sn.vpcID == id {
			return errCode("DependencyViolation", 400, "The vpc '%s' has dependencies and cannot be deleted.", id)
		}
	}
	for _, g := range st.sgs {
		if g.vpcID == id && g.id != v.defaultSG {
			return errCode("DependencyViolation", 400, "The vpc '%s' has dependencies and cannot be deleted.", id)
		}
	}
	delete(st.sgs, v.defaultSG)
	delete(st.vpcs, id)
	return nil
}

func (st *state) deleteSG(id string) *Error {
	if id == "" {
		return missingParam("GroupId")
	}
	g, ok := st.sgs[id]
	if !ok {
		return groupNotFound(id)
	}
	if v := st.vpcs[g.vpcID]; v != nil && v.defaultSG == id {
		return errCode("CannotDelete", 400, "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", id)
	}
	for _, n := range st.enis {
		for _, s := range n.sgs {
			if s == id {
				return errCode("DependencyViolation", 400, "resource %s has a dependent object", id)
			}
		}
	}
	for _, other := range st.sgs {
		for _, r := range other.rules {
			if r.group == id && other.id != id {
				return errCode("DependencyViolation", 400, "resource %s has a dependent object", id)
			}
		}
	}
	delete(st.sgs, id)
	return nil
}
