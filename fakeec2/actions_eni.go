package fakeec2

import (
	"slices"
	"sort"
	"strings"
	"time"
)

// Wire handlers for network interfaces and their addresses.

// ---- network interfaces ----

// eniView is an ENI as Describe or IMDS shows it, with lag applied. Without
// lag it shares the ENI's slices, so scanning 10,000 ENIs allocates nothing.
type eniView struct {
	attached bool
	ips      []addrEntry
	pfx      []prefixEntry
	ipv6     []addrEntry
	pfx6     []prefixEntry
}

func lagged(n *eni, now time.Time, lag time.Duration) eniView {
	v := eniView{attached: n.inst != nil && visible(n.attachedAt, now, lag), ips: n.ips, pfx: n.pfx, ipv6: n.ipv6, pfx6: n.pfx6}
	if lag <= 0 {
		return v
	}
	v.ips, v.pfx, v.ipv6, v.pfx6 = nil, nil, nil, nil
	for _, a := range n.ipv6 {
		if visible(a.at, now, lag) {
			v.ipv6 = append(v.ipv6, a)
		}
	}
	for _, p := range n.pfx6 {
		if visible(p.at, now, lag) {
			v.pfx6 = append(v.pfx6, p)
		}
	}
	for _, a := range n.ips {
		if visible(a.at, now, lag) {
			v.ips = append(v.ips, a)
		}
	}
	for _, p := range n.pfx {
		if visible(p.at, now, lag) {
			v.pfx = append(v.pfx, p)
		}
	}
	return v
}

func (s *Server) writeENI(x *xw, n *eni, v eniView, tag string) {
	s.writeENIAs(x, n, v, tag, false)
}

// writeENIAs writes an ENI as DescribeNetworkInterfaces does, or, when
// inInstance, as DescribeInstances nests it (EC2's InstanceNetworkInterface
// has no zone, requester, attachment instance or tags).
func (s *Server) writeENIAs(x *xw, n *eni, v eniView, tag string, inInstance bool) {
	x.open(tag)
	x.el("networkInterfaceId", n.id)
	x.el("subnetId", n.subnet.id)
	x.el("vpcId", n.subnet.vpcID)
	if !inInstance {
		x.el("availabilityZone", n.subnet.az)
		x.el("availabilityZoneId", s.st.azID(n.subnet.az))
	}
	x.el("description", n.desc)
	x.el("ownerId", s.cfg.AccountID)
	if !inInstance {
		x.elBool("requesterManaged", n.requester)
	}
	if v.attached || n.requester { // a NAT gateway's ENI is in use by AWS
		x.el("status", "in-use")
	} else {
		x.el("status", "available")
	}
	x.el("macAddress", n.mac)
	if len(n.ips) > 0 {
		x.elAddr("privateIpAddress", n.ips[0].a)
		x.elDNS("privateDnsName", n.ips[0].a, s.cfg.Region)
	}
	x.elBool("sourceDestCheck", !n.noSourceDestCheck)
	s.groupSet(x, n.sgs)
	s.writeAssociation(x, n)
	if v.attached {
		x.open("attachment")
		x.el("attachmentId", n.attachID)
		if !inInstance {
			x.el("instanceId", n.inst.id)
			x.el("instanceOwnerId", s.cfg.AccountID)
		}
		x.elInt("deviceIndex", n.device)
		x.elInt("networkCardIndex", n.card)
		x.el("status", "attached")
		x.open("attachTime")
		x.b.Write(n.attachTime.UTC().AppendFormat(x.scratch[:0], "2006-01-02T15:04:05.000Z"))
		x.close("attachTime")
		x.elBool("deleteOnTermination", n.dot)
		x.close("attachment")
	}
	if !inInstance {
		x.tagSet(n.tags)
	}
	x.open("privateIpAddressesSet")
	for i, e := range v.ips {
		a := e.a
		x.open("item")
		x.elAddr("privateIpAddress", a)
		x.elDNS("privateDnsName", a, s.cfg.Region)
		x.elBool("primary", i == 0 && len(n.ips) > 0 && a == n.ips[0].a)
		x.close("item")
	}
	x.close("privateIpAddressesSet")
	if len(v.pfx) > 0 {
		x.open("ipv4PrefixSet")
		for _, p := range v.pfx {
			x.open("item")
			x.el("ipv4Prefix", p.p.String())
			x.close("item")
		}
		x.close("ipv4PrefixSet")
	}
	writeENIIPv6(x, v)
	x.el("interfaceType", n.ifType)
	if !inInstance {
		x.elBool("ipv6Native", false)
	}
	x.raw("<operator><managed>false</managed></operator>")
	x.close(tag)
}

func (s *Server) createNetworkInterface(p params, x *xw, now time.Time) *Error {
	subnetID, e := p.required("SubnetId")
	if e != nil {
		return e
	}
	req := eniRequest{subnetID: subnetID, desc: p.get("Description"), groups: p.list("SecurityGroupId"), ifType: p.get("InterfaceType")}
	switch req.ifType {
	case "", "interface", "trunk", "branch", "efa":
	default:
		return invalidParam("Value (%s) for parameter InterfaceType is invalid.", truncate(req.ifType, 32))
	}
	if len(req.desc) > 255 {
		return invalidParam("Description is longer than 255 characters.")
	}
	if s := p.get("PrivateIpAddress"); s != "" {
		if req.primary, e = parseIPv4("PrivateIpAddress", s); e != nil {
			return e
		}
	}
	for _, i := range p.indices("PrivateIpAddresses") {
		base := "PrivateIpAddresses." + i
		a, e := parseIPv4(base+".PrivateIpAddress", p.get(base+".PrivateIpAddress"))
		if e != nil {
			return e
		}
		primary, e := p.boolean(base + ".Primary")
		if e != nil {
			return e
		}
		if primary {
			if req.primary.IsValid() && req.primary != a {
				return errCode("InvalidParameterCombination", 400, "Only one primary private IP address may be specified.")
			}
			req.primary = a
		} else {
			req.ips = append(req.ips, a)
		}
	}
	if req.ipCount, _, e = p.integer("SecondaryPrivateIpAddressCount", 1, 1<<30); e != nil {
		return e
	}
	if req.prefixCount, _, e = p.integer("Ipv4PrefixCount", 1, 1<<30); e != nil {
		return e
	}
	if req.prefixes, e = p.prefixList("Ipv4Prefix", "Ipv4Prefix"); e != nil {
		return e
	}
	if req.tags, e = p.tagSpecs("network-interface"); e != nil {
		return e
	}
	n, e := s.st.createENI(req, now)
	if e != nil {
		return e
	}
	s.writeENI(x, n, lagged(n, now, 0), "networkInterface")
	return nil
}

func (s *Server) deleteNetworkInterface(p params, x *xw, now time.Time) *Error {
	n, e := s.st.deleteENI(p.get("NetworkInterfaceId"))
	if e != nil {
		return e
	}
	s.emit(Event{Kind: ENIDeleted, ENI: n.view(), At: now})
	x.ret()
	return nil
}

func (s *Server) attachNetworkInterface(p params, x *xw, now time.Time) *Error {
	eniID, e := p.required("NetworkInterfaceId")
	if e != nil {
		return e
	}
	instID, e := p.required("InstanceId")
	if e != nil {
		return e
	}
	dev, set, e := p.integer("DeviceIndex", 0, 1<<30)
	if e != nil {
		return e
	}
	if !set {
		return missingParam("DeviceIndex")
	}
	card, _, e := p.integer("NetworkCardIndex", 0, 1<<30)
	if e != nil {
		return e
	}
	n, e := s.st.attach(eniID, instID, dev, card, now)
	if e != nil {
		return e
	}
	s.emit(Event{Kind: ENIAttached, InstanceID: instID, ENI: n.view(), At: now})
	x.el("attachmentId", n.attachID)
	x.elInt("networkCardIndex", n.card)
	return nil
}

func (s *Server) detachNetworkInterface(p params, x *xw, now time.Time) *Error {
	if _, e := p.boolean("Force"); e != nil {
		return e
	}
	n, in, e := s.st.detach(p.get("AttachmentId"))
	if e != nil {
		return e
	}
	s.emit(Event{Kind: ENIDetached, InstanceID: in.id, ENI: n.view(), At: now})
	x.ret()
	return nil
}

func (s *Server) eniMatches(n *eni, v eniView, fs []filter) bool {
	return eniFields().match(eniRow{s, n, v}, n.tags, fs)
}

// eniXMLSize is about what one ENI item of a Describe takes (1.3 KiB with
// a few addresses), to size an unfiltered response's buffer up front.
const eniXMLSize = 1400

func (s *Server) describeNetworkInterfaces(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters(eniFields().names()...)
	if e != nil {
		return e
	}
	ids := p.list("NetworkInterfaceId")
	if e := eniIDs.checkIDs(ids); e != nil {
		return e
	}
	var missing []string
	for _, id := range ids {
		if _, ok := s.st.enis[id]; !ok {
			missing = append(missing, id)
		}
	}
	switch {
	case len(missing) == 1:
		return eniNotFound(missing[0])
	case len(missing) > 1:
		return errCode("InvalidNetworkInterfaceID.NotFound", 400, "The networkInterface IDs '%s' do not exist", strings.Join(missing, ", "))
	}
	maxN, after, e := p.paging("eni", 5, 1000, len(ids) > 0)
	if e != nil {
		return e
	}
	lag := s.cfg.DescribeLag
	x.open("networkInterfaceSet")
	if len(ids) > 0 {
		seen := map[string]bool{}
		for _, id := range ids {
			n := s.st.enis[id]
			if seen[id] {
				continue
			}
			seen[id] = true
			v := lagged(n, now, lag)
			if s.eniMatches(n, v, fs) {
				s.writeENI(x, n, v, "item")
			}
		}
		x.close("networkInterfaceSet")
		return nil
	}
	list := s.st.candidates(fs)
	start := sort.Search(len(list), func(i int) bool { return list[i].seq >= after })
	if len(fs) == 0 {
		n := len(list) - start
		if maxN > 0 {
			n = min(n, maxN)
		}
		x.grow(n * eniXMLSize)
	}
	count := 0
	var next uint64
	for _, n := range list[start:] {
		if n.deleted {
			continue
		}
		v := lagged(n, now, lag)
		if !s.eniMatches(n, v, fs) {
			continue
		}
		if maxN > 0 && count == maxN {
			next = n.seq
			break
		}
		s.writeENI(x, n, v, "item")
		count++
	}
	x.close("networkInterfaceSet")
	if next != 0 {
		x.el("nextToken", encodeToken("eni", next))
	}
	return nil
}

// candidates narrows a Describe to the ENIs a literal
// attachment.instance-id or network-interface-id filter names (ipamd's usual
// calls), in creation order; otherwise it is every ENI.
func (st *state) candidates(fs []filter) []*eni {
	literal := func(vs []string) bool {
		for _, v := range vs {
			if strings.ContainsAny(v, `*?\`) {
				return false
			}
		}
		return true
	}
	for _, f := range fs {
		var out []*eni
		switch {
		case f.name == "attachment.instance-id" && literal(f.values):
			for _, id := range f.values {
				if in, ok := st.instances[id]; ok {
					out = append(out, in.enis...)
				}
			}
		case f.name == "network-interface-id" && literal(f.values):
			for _, id := range f.values {
				if n, ok := st.enis[id]; ok {
					out = append(out, n)
				}
			}
		default:
			continue
		}
		sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
		return slices.CompactFunc(out, func(a, b *eni) bool { return a == b })
	}
	return st.eniList
}

func (s *Server) describeNetworkInterfaceAttribute(p params, x *xw, now time.Time) *Error {
	id := p.get("NetworkInterfaceId")
	n, e := s.st.findENI(id)
	if e != nil {
		return e
	}
	x.el("networkInterfaceId", id)
	switch a := p.get("Attribute"); a {
	case "description":
		x.raw("<description><value>")
		xmlEscape(&x.b, n.desc)
		x.raw("</value></description>")
	case "groupSet":
		s.groupSet(x, n.sgs)
	case "sourceDestCheck":
		x.open("sourceDestCheck")
		x.elBool("value", !n.noSourceDestCheck)
		x.close("sourceDestCheck")
	case "attachment":
		if n.inst != nil {
			x.open("attachment")
			x.el("attachmentId", n.attachID)
			x.el("instanceId", n.inst.id)
			x.elInt("deviceIndex", n.device)
			x.elInt("networkCardIndex", n.card)
			x.el("status", "attached")
			x.elBool("deleteOnTermination", n.dot)
			x.close("attachment")
		}
	case "":
		return missingParam("Attribute")
	default:
		return invalidParam("Value (%s) for parameter Attribute is invalid.", truncate(a, 32))
	}
	return nil
}

func (s *Server) modifyNetworkInterfaceAttribute(p params, x *xw, now time.Time) *Error {
	id := p.get("NetworkInterfaceId")
	n, e := s.st.findENI(id)
	if e != nil {
		return e
	}
	_, hasDesc := p.v["Description.Value"]
	_, hasSDC := p.v["SourceDestCheck.Value"]
	groups := p.list("SecurityGroupId")
	attID := p.get("Attachment.AttachmentId")
	_, hasDOT := p.v["Attachment.DeleteOnTermination"]
	kinds := 0
	for _, b := range []bool{hasDesc, hasSDC, len(groups) > 0, attID != "" || hasDOT} {
		if b {
			kinds++
		}
	}
	if kinds == 0 {
		return errCode("InvalidParameterCombination", 400, "No attributes specified.")
	}
	if kinds > 1 {
		return errCode("InvalidParameterCombination", 400, "Fields for multiple attribute types specified: only one attribute may be modified per request.")
	}
	switch {
	case hasDesc:
		d := p.get("Description.Value")
		if len(d) > 255 {
			return invalidParam("Description is longer than 255 characters.")
		}
		n.desc = d
	case hasSDC:
		check, e := p.boolean("SourceDestCheck.Value")
		if e != nil {
			return e
		}
		n.noSourceDestCheck = !check
	case len(groups) > 0:
		gs, e := s.st.checkGroups(n.subnet.vpcID, groups, groupNotFound)
		if e != nil {
			return e
		}
		n.sgs = gs
	default:
		if attID == "" {
			return missingParam("Attachment.AttachmentId")
		}
		if !hasDOT {
			return missingParam("Attachment.DeleteOnTermination")
		}
		dot, e := p.boolean("Attachment.DeleteOnTermination")
		if e != nil {
			return e
		}
		if n.inst == nil || n.attachID != attID {
			return attachmentNotFound(attID)
		}
		n.dot = dot
	}
	s.emit(Event{Kind: AttributeChanged, InstanceID: instID(n), ENI: n.view(), At: now})
	x.ret()
	return nil
}

// maxAssign bounds how many addresses one request may ask for, long
// before the per-ENI limit, so hostile counts cost nothing.
const maxAssign = 1 << 30

func (s *Server) assignPrivateIpAddresses(p params, x *xw, now time.Time) *Error {
	var req assignRequest
	var e *Error
	req.eniID = p.get("NetworkInterfaceId")
	if req.ips, e = p.addrList("PrivateIpAddress"); e != nil {
		return e
	}
	if req.ipCount, _, e = p.integer("SecondaryPrivateIpAddressCount", 1, maxAssign); e != nil {
		return e
	}
	if req.prefixes, e = p.prefixList("Ipv4Prefix", ""); e != nil {
		return e
	}
	if req.prefixCount, _, e = p.integer("Ipv4PrefixCount", 1, maxAssign); e != nil {
		return e
	}
	if req.reassign, e = p.boolean("AllowReassignment"); e != nil {
		return e
	}
	got, e := s.st.assign(req, now)
	if e != nil {
		return e
	}
	n := got.eni
	for _, m := range got.moved {
		s.emit(Event{Kind: AddressesChanged, InstanceID: instID(m), ENI: m.view(), At: now})
	}
	s.emit(Event{Kind: AddressesChanged, InstanceID: instID(n), ENI: n.view(), At: now})
	x.el("networkInterfaceId", n.id)
	x.open("assignedPrivateIpAddressesSet")
	for _, a := range got.ips {
		x.open("item")
		x.el("privateIpAddress", a.String())
		x.close("item")
	}
	x.close("assignedPrivateIpAddressesSet")
	x.open("assignedIpv4PrefixSet")
	for _, q := range got.prefixes {
		x.open("item")
		x.el("ipv4Prefix", q.String())
		x.close("item")
	}
	x.close("assignedIpv4PrefixSet")
	x.ret()
	return nil
}

func instID(n *eni) string {
	if n.inst == nil {
		return ""
	}
	return n.inst.id
}

func (s *Server) unassignPrivateIpAddresses(p params, x *xw, now time.Time) *Error {
	ips, e := p.addrList("PrivateIpAddress")
	if e != nil {
		return e
	}
	pfx, e := p.prefixList("Ipv4Prefix", "")
	if e != nil {
		return e
	}
	n, e := s.st.unassign(p.get("NetworkInterfaceId"), ips, pfx)
	if e != nil {
		return e
	}
	s.emit(Event{Kind: AddressesChanged, InstanceID: instID(n), ENI: n.view(), At: now})
	x.ret()
	return nil
}
