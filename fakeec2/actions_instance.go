package fakeec2

import (
	"maps"
	"net/netip"
	"time"
)

// Wire handlers for instances and instance types.

// ---- instances ----

func (s *Server) writeInstance(x *xw, in *instance, now time.Time, lag time.Duration, tag string) {
	x.open(tag)
	x.el("instanceId", in.id)
	x.el("imageId", in.imageID)
	name, code := in.phase(now)
	x.open("instanceState")
	x.elInt("code", code)
	x.el("name", name)
	x.close("instanceState")
	running := in.state == "running"
	if running {
		x.el("privateDnsName", s.st.dnsName(in.primaryIP))
	} else {
		x.raw("<privateDnsName/>")
	}
	if pub := in.publicIP(); pub.IsValid() {
		x.el("dnsName", publicDNS(pub, s.cfg.Region))
	} else {
		x.raw("<dnsName/>")
	}
	x.elInt("amiLaunchIndex", in.launchIndex)
	x.el("instanceType", in.typ)
	x.el("launchTime", ts(in.launched))
	x.open("placement")
	x.el("availabilityZone", in.az)
	x.el("availabilityZoneId", s.st.azID(in.az))
	x.raw("<groupName/>")
	x.el("tenancy", "default")
	x.close("placement")
	x.raw("<monitoring><state>disabled</state></monitoring>")
	if running {
		x.el("subnetId", in.subnet.id)
		x.el("vpcId", in.subnet.vpcID)
		x.el("privateIpAddress", in.primaryIP.String())
		if pub := in.publicIP(); pub.IsValid() {
			x.elAddr("ipAddress", pub)
		}
		x.elBool("sourceDestCheck", in.sourceDestCheck())
	}
	s.groupSet(x, in.sgs)
	x.el("architecture", in.lim.Architecture)
	x.el("rootDeviceType", "ebs")
	x.el("virtualizationType", "hvm")
	// The model's enum is xen|ovm, and EC2 answers xen for Nitro types too.
	x.el("hypervisor", "xen")
	writeInstanceDetails(x, in, now)
	x.open("networkInterfaceSet")
	for _, n := range in.sortedENIs() {
		v := lagged(n, now, lag)
		if !v.attached {
			continue
		}
		s.writeENIAs(x, n, v, "item", true)
	}
	x.close("networkInterfaceSet")
	x.tagSet(in.tags)
	x.close(tag)
}

func (s *Server) runInstances(p params, x *xw, now time.Time) *Error {
	minN, setMin, e := p.integer("MinCount", 1, 1<<30)
	if e != nil {
		return e
	}
	maxN, setMax, e := p.integer("MaxCount", 1, 1<<30)
	if e != nil {
		return e
	}
	if !setMin {
		return missingParam("MinCount")
	}
	if !setMax {
		return missingParam("MaxCount")
	}
	if minN > maxN {
		return invalidParam("MinCount (%d) must be less than or equal to MaxCount (%d).", minN, maxN)
	}
	const instanceLimit = 100
	if minN > instanceLimit {
		return errCode("InstanceLimitExceeded", 400, "You have requested more instances (%d) than your current instance limit of %d allows.", minN, instanceLimit)
	}
	typ := p.get("InstanceType")
	if typ == "" {
		typ = "m1.small"
	}
	subnetID := p.get("SubnetId")
	groups := p.list("SecurityGroupId")
	if subnetID == "" {
		subnetID = p.get("NetworkInterface.1.SubnetId")
		if len(groups) == 0 {
			groups = p.list("NetworkInterface.1.SecurityGroupId")
		}
	}
	var primary netip.Addr
	if a := p.get("PrivateIpAddress"); a != "" {
		if primary, e = parseIPv4("PrivateIpAddress", a); e != nil {
			return e
		}
	}
	instTags, e := p.tagSpecs("instance", "network-interface", "volume")
	if e != nil {
		return e
	}
	eniTags, e := p.tagSpecs("network-interface", "instance", "volume")
	if e != nil {
		return e
	}
	image := p.get("ImageId")
	if image == "" {
		image = defaultAMI
	} else if e := amiIDs.check(image); e != nil {
		return e
	}
	count := min(maxN, instanceLimit)
	if sn, ok := s.st.subnets[subnetID]; ok && !primary.IsValid() && count > sn.free && sn.free >= minN {
		count = sn.free
	}
	ins, e := s.st.runInstances(typ, subnetID, groups, primary, count, image, instTags, now)
	if e != nil {
		return e
	}
	for _, in := range ins {
		for _, n := range in.enis {
			maps.Copy(n.tags, eniTags)
		}
	}
	for _, in := range ins {
		in.runningAt = now.Add(s.cfg.InstancePending)
	}
	s.emitLaunch(ins, now)
	x.el("reservationId", ins[0].reservationID)
	x.el("ownerId", s.cfg.AccountID)
	x.raw("<groupSet/>")
	x.open("instancesSet")
	for _, in := range ins {
		s.writeInstance(x, in, now, 0, "item")
	}
	x.close("instancesSet")
	return nil
}

func (s *Server) terminateInstances(p params, x *xw, now time.Time) *Error {
	ids := p.list("InstanceId")
	if len(ids) == 0 {
		return missingParam("InstanceId")
	}
	for _, id := range ids {
		if _, ok := s.st.instances[id]; !ok {
			return instanceNotFound(id)
		}
	}
	x.open("instancesSet")
	for _, id := range ids {
		in := s.st.instances[id]
		prevName, prevCode := in.phase(now)
		if in.state == "running" {
			in.goneAt = now.Add(s.cfg.InstanceShutdown)
		}
		s.terminateLocked(in)
		name, code := in.phase(now)
		x.open("item")
		x.el("instanceId", id)
		x.open("currentState")
		x.elInt("code", code)
		x.el("name", name)
		x.close("currentState")
		x.open("previousState")
		x.elInt("code", prevCode)
		x.el("name", prevName)
		x.close("previousState")
		x.close("item")
	}
	x.close("instancesSet")
	return nil
}

func (s *Server) describeInstances(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters(instFields().names()...)
	if e != nil {
		return e
	}
	ids := p.list("InstanceId")
	for _, id := range ids {
		if _, ok := s.st.instances[id]; !ok {
			return instanceNotFound(id)
		}
	}
	maxN, after, e := p.paging("instance", 5, 1000, len(ids) > 0)
	if e != nil {
		return e
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	var sel []*instance
	var next uint64
	for _, in := range s.st.instOrder {
		if in.seq < after || (len(ids) > 0 && !want[in.id]) || !s.instanceMatches(in, fs, now) {
			continue
		}
		if maxN > 0 && len(sel) == maxN {
			next = in.seq
			break
		}
		sel = append(sel, in)
	}
	x.open("reservationSet")
	for i := 0; i < len(sel); {
		j := i
		for j < len(sel) && sel[j].reservationID == sel[i].reservationID {
			j++
		}
		x.open("item")
		x.el("reservationId", sel[i].reservationID)
		x.el("ownerId", s.cfg.AccountID)
		x.raw("<groupSet/>")
		x.open("instancesSet")
		for _, in := range sel[i:j] {
			s.writeInstance(x, in, now, s.cfg.DescribeLag, "item")
		}
		x.close("instancesSet")
		x.close("item")
		i = j
	}
	x.close("reservationSet")
	if next != 0 {
		x.el("nextToken", encodeToken("instance", next))
	}
	return nil
}

func (s *Server) instanceMatches(in *instance, fs []filter, now time.Time) bool {
	return instFields().match(instRow{s, in, now}, in.tags, fs)
}
