package fakeec2

import (
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/enilab/enilab/internal/ec2limits"
)

// ENIs, their addresses and attachments, and instances. Everything here
// runs with Server.mu held.

// ---- ENIs ----

type eniRequest struct {
	subnetID, desc, ifType string
	groups                 []string
	primary                netip.Addr
	ips                    []netip.Addr // secondary, explicit
	ipCount                int
	prefixes               []netip.Prefix
	prefixCount            int
	tags                   map[string]string
}

func (st *state) createENI(req eniRequest, now time.Time) (*eni, *Error) {
	if req.subnetID == "" {
		return nil, missingParam("SubnetId")
	}
	sn, ok := st.subnets[req.subnetID]
	if !ok {
		return nil, subnetNotFound(req.subnetID)
	}
	groups, e := st.checkGroups(sn.vpcID, req.groups)
	if e != nil {
		return nil, e
	}
	if len(req.ips) > 0 && req.ipCount > 0 {
		return nil, errCode("InvalidParameterCombination", 400, "You may specify secondary addresses or a secondary address count, not both.")
	}
	if len(req.prefixes) > 0 && req.prefixCount > 0 {
		return nil, errCode("InvalidParameterCombination", 400, "You may specify IPv4 prefixes or a prefix count, not both.")
	}
	slots := 1 + len(req.ips) + req.ipCount + len(req.prefixes) + req.prefixCount
	if slots > maxIPv4PerENI {
		return nil, errCode("PrivateIpAddressLimitExceeded", 400, "Number of private addresses will exceed limit.")
	}
	// Validate every explicit choice before taking anything.
	var explicit []uint32
	seen := map[netip.Addr]bool{}
	all := req.ips
	if req.primary.IsValid() {
		all = append([]netip.Addr{req.primary}, req.ips...)
	}
	for _, a := range all {
		if seen[a] {
			return nil, invalidParam("Address %s is listed more than once.", a)
		}
		seen[a] = true
		off, e := st.checkExplicitIP(sn, a, false, nil)
		if e != nil {
			return nil, e
		}
		explicit = append(explicit, off)
	}
	var pfxOffs []uint32
	seenP := map[netip.Prefix]bool{}
	for _, p := range req.prefixes {
		if seenP[p] {
			return nil, invalidParam("Prefix %s is listed more than once.", p)
		}
		seenP[p] = true
		off, e := st.checkExplicitPrefix(sn, p)
		if e != nil {
			return nil, e
		}
		// Both lists were checked against the subnet only: an address
		// inside a prefix of the same request would be handed out twice.
		for _, a := range all {
			if p.Contains(a) {
				return nil, errCode("InvalidIPAddress.InUse", 400, "Address %s is inside the requested prefix %s.", a, p)
			}
		}
		pfxOffs = append(pfxOffs, off)
	}
	autoIPs := req.ipCount
	if !req.primary.IsValid() {
		autoIPs++
	}
	if autoIPs > sn.free {
		return nil, errCode("InsufficientFreeAddressesInSubnet", 400,
			"The specified subnet %s does not have enough free addresses to satisfy the request.", sn.id)
	}
	for _, off := range explicit {
		sn.take(off)
	}
	for _, off := range pfxOffs {
		for i := uint32(0); i < 16; i++ {
			sn.take(off + i)
		}
	}
	undo := func() {
		for _, off := range explicit {
			sn.release(off)
		}
		for _, off := range pfxOffs {
			for i := uint32(0); i < 16; i++ {
				sn.release(off + i)
			}
		}
	}
	var autoP []uint32
	if req.prefixCount > 0 {
		autoP, e = st.allocPrefixes(sn, req.prefixCount)
		if e != nil {
			undo()
			return nil, e
		}
	}
	autoI, e := st.allocIPs(sn, autoIPs)
	if e != nil {
		undo()
		for _, b := range autoP {
			for i := uint32(0); i < 16; i++ {
				sn.release(b + i)
			}
		}
		return nil, e
	}
	n := &eni{
		id: st.newID("eni"), mac: st.newMAC(), desc: req.desc, ifType: req.ifType, subnet: sn,
		tags: map[string]string{}, sgs: groups, seq: st.nextSeq(),
	}
	if n.ifType == "" {
		n.ifType = "interface"
	}
	for k, v := range req.tags {
		n.tags[k] = v
	}
	var ipOffs []uint32
	if req.primary.IsValid() {
		ipOffs = append(ipOffs, explicit...)
		ipOffs = append(ipOffs, autoI...)
	} else {
		ipOffs = append(ipOffs, autoI[0])
		ipOffs = append(ipOffs, explicit...)
		ipOffs = append(ipOffs, autoI[1:]...)
	}
	for _, off := range ipOffs {
		sn.ipOwner[off] = n
		n.ips = append(n.ips, addrEntry{a: sn.addr(off)})
	}
	for _, off := range append(pfxOffs, autoP...) {
		sn.pfxOwner[off] = n
		n.pfx = append(n.pfx, prefixEntry{p: netip.PrefixFrom(sn.addr(off), 28)})
	}
	st.enis[n.id] = n
	st.eniList = append(st.eniList, n)
	return n, nil
}

func (st *state) freeENI(n *eni) {
	sn := n.subnet
	for _, a := range n.ips {
		off, _ := sn.offset(a.a)
		if sn.ipOwner[off] == n {
			delete(sn.ipOwner, off)
			sn.release(off)
		}
	}
	for _, p := range n.pfx {
		off, _ := sn.offset(p.p.Addr())
		delete(sn.pfxOwner, off)
		for i := uint32(0); i < 16; i++ {
			sn.release(off + i)
		}
	}
	n.ips, n.pfx = nil, nil
	n.deleted = true
	delete(st.enis, n.id)
	st.eniDead++
	if st.eniDead > 64 && st.eniDead > len(st.eniList)/2 {
		st.eniList = slices.DeleteFunc(st.eniList, func(e *eni) bool { return e.deleted })
		st.eniDead = 0
	}
}

// findENI looks up the ENI a request names, answering a missing or unknown
// id the way EC2 does.
func (st *state) findENI(id string) (*eni, *Error) {
	if id == "" {
		return nil, missingParam("NetworkInterfaceId")
	}
	n, ok := st.enis[id]
	if !ok {
		return nil, eniNotFound(id)
	}
	return n, nil
}

func (st *state) deleteENI(id string) (*eni, *Error) {
	n, e := st.findENI(id)
	if e != nil {
		return nil, e
	}
	if n.inst != nil {
		return nil, errCode("InvalidNetworkInterface.InUse", 400, "The network interface '%s' is currently in use.", id)
	}
	st.freeENI(n)
	return n, nil
}

func slotsUsed(n *eni) int { return len(n.ips) + len(n.pfx) }

func (st *state) slotLimit(n *eni) int {
	if n.inst != nil {
		return n.inst.lim.IPv4PerENI
	}
	return maxIPv4PerENI
}

func (st *state) attach(eniID, instID string, device, card int, now time.Time) (*eni, *Error) {
	n, ok := st.enis[eniID]
	if !ok {
		return nil, eniNotFound(eniID)
	}
	in, ok := st.instances[instID]
	if !ok {
		return nil, instanceNotFound(instID)
	}
	if in.state != "running" {
		return nil, errCode("IncorrectInstanceState", 400, "The instance '%s' is not in a valid state for this operation.", instID)
	}
	if n.inst != nil {
		return nil, errCode("InvalidNetworkInterface.InUse", 400, "Interface %s is currently in use.", eniID)
	}
	if device < 0 || device > 255 {
		return nil, invalidParam("Value (%d) for parameter DeviceIndex is invalid.", device)
	}
	maxOnCard := in.lim.MaxENIsOnCard(card)
	if card < 0 || maxOnCard == 0 {
		return nil, invalidParam("Network card index %d is invalid for instance type %s.", card, in.typ)
	}
	if n.subnet.vpcID != in.subnet.vpcID {
		return nil, invalidParam("The network interface %s and instance %s are not in the same VPC.", eniID, instID)
	}
	if n.subnet.az != in.az {
		return nil, invalidParam("The network interface %s and instance %s are not in the same availability zone.", eniID, instID)
	}
	onCard := 0
	for _, o := range in.enis {
		if o.card == card {
			onCard++
			if o.device == device {
				return nil, invalidParam("Instance '%s' already has an interface attached at device index '%d'.", instID, device)
			}
		}
	}
	if onCard >= maxOnCard {
		return nil, errCode("AttachmentLimitExceeded", 400, "Interface count %d exceeds the limit for %s", onCard+1, in.typ)
	}
	if slotsUsed(n) > in.lim.IPv4PerENI {
		return nil, errCode("PrivateIpAddressLimitExceeded", 400,
			"Number of private addresses (%d) on %s exceeds the limit of %d for %s.", slotsUsed(n), eniID, in.lim.IPv4PerENI, in.typ)
	}
	if len(n.pfx) > 0 && !in.lim.SupportsPrefixes() {
		return nil, invalidParam("Prefix delegation is not supported for the instance type %s.", in.typ)
	}
	n.inst, n.device, n.card, n.dot = in, device, card, false
	n.attachID = st.newID("eni-attach")
	n.attachedAt, n.attachTime = now, now
	st.attachments[n.attachID] = n
	in.enis = append(in.enis, n)
	return n, nil
}

func (st *state) detachENI(n *eni) {
	in := n.inst
	in.enis = slices.DeleteFunc(in.enis, func(o *eni) bool { return o == n })
	delete(st.attachments, n.attachID)
	n.inst, n.attachID, n.device, n.card, n.dot = nil, "", 0, 0, false
	n.attachedAt = time.Time{}
}

func (st *state) detach(attachID string) (*eni, *instance, *Error) {
	if attachID == "" {
		return nil, nil, missingParam("AttachmentId")
	}
	n, ok := st.attachments[attachID]
	if !ok {
		return nil, nil, attachmentNotFound(attachID)
	}
	if n.isPrimary() {
		return nil, nil, errCode("OperationNotPermitted", 400, "The network interface at device index 0 cannot be detached.")
	}
	in := n.inst
	st.detachENI(n)
	return n, in, nil
}

type assignRequest struct {
	eniID       string
	ips         []netip.Addr
	ipCount     int
	prefixes    []netip.Prefix
	prefixCount int
	reassign    bool
}

// assign adds addresses to an ENI and returns what it added, and in moved
// each other ENI that lost addresses to it (AllowReassignment) once, so
// that every changed ENI gets one event.
func (st *state) assign(req assignRequest, now time.Time) (n *eni, ips []netip.Addr, pfx []netip.Prefix, moved []*eni, err *Error) {
	n, err = st.findENI(req.eniID)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	wantIPs := len(req.ips) > 0 || req.ipCount > 0
	wantPfx := len(req.prefixes) > 0 || req.prefixCount > 0
	switch {
	case len(req.ips) > 0 && req.ipCount > 0:
		return nil, nil, nil, nil, errCode("InvalidParameterCombination", 400, "You may specify PrivateIpAddress or SecondaryPrivateIpAddressCount, not both.")
	case len(req.prefixes) > 0 && req.prefixCount > 0:
		return nil, nil, nil, nil, errCode("InvalidParameterCombination", 400, "You may specify Ipv4Prefix or Ipv4PrefixCount, not both.")
	case wantIPs && wantPfx:
		return nil, nil, nil, nil, errCode("InvalidParameterCombination", 400, "You may assign private IP addresses or IPv4 prefixes in one request, not both.")
	case !wantIPs && !wantPfx:
		return nil, nil, nil, nil, missingParam("PrivateIpAddress, SecondaryPrivateIpAddressCount, Ipv4Prefix or Ipv4PrefixCount")
	}
	if wantPfx && n.inst != nil && !n.inst.lim.SupportsPrefixes() {
		return nil, nil, nil, nil, invalidParam("Prefix delegation is not supported for the instance type %s.", n.inst.typ)
	}
	add := len(req.ips) + req.ipCount + len(req.prefixes) + req.prefixCount
	if slotsUsed(n)+add > st.slotLimit(n) {
		return nil, nil, nil, nil, errCode("PrivateIpAddressLimitExceeded", 400, "Number of private addresses will exceed limit.")
	}
	sn := n.subnet
	if len(req.ips) > 0 {
		var offs []uint32
		seen := map[netip.Addr]bool{}
		for _, a := range req.ips {
			if seen[a] {
				return nil, nil, nil, nil, invalidParam("Address %s is listed more than once.", a)
			}
			seen[a] = true
			off, e := st.checkExplicitIP(sn, a, req.reassign, n)
			if e != nil {
				return nil, nil, nil, nil, e
			}
			offs = append(offs, off)
		}
		for _, off := range offs {
			if old := sn.ipOwner[off]; old != nil && old != n {
				a := sn.addr(off)
				old.ips = slices.DeleteFunc(old.ips, func(x addrEntry) bool { return x.a == a })
				if !slices.Contains(moved, old) {
					moved = append(moved, old)
				}
			}
			sn.take(off)
			sn.ipOwner[off] = n
			n.ips = append(n.ips, addrEntry{a: sn.addr(off), at: now})
			ips = append(ips, sn.addr(off))
		}
	}
	if req.ipCount > 0 {
		offs, e := st.allocIPs(sn, req.ipCount)
		if e != nil {
			return nil, nil, nil, nil, e
		}
		for _, off := range offs {
			sn.ipOwner[off] = n
			n.ips = append(n.ips, addrEntry{a: sn.addr(off), at: now})
			ips = append(ips, sn.addr(off))
		}
	}
	if len(req.prefixes) > 0 {
		var offs []uint32
		seen := map[netip.Prefix]bool{}
		for _, p := range req.prefixes {
			if seen[p] {
				return nil, nil, nil, nil, invalidParam("Prefix %s is listed more than once.", p)
			}
			seen[p] = true
			off, e := st.checkExplicitPrefix(sn, p)
			if e != nil {
				return nil, nil, nil, nil, e
			}
			offs = append(offs, off)
		}
		for _, off := range offs {
			for i := uint32(0); i < 16; i++ {
				sn.take(off + i)
			}
			sn.pfxOwner[off] = n
			p := netip.PrefixFrom(sn.addr(off), 28)
			n.pfx = append(n.pfx, prefixEntry{p: p, at: now})
			pfx = append(pfx, p)
		}
	}
	if req.prefixCount > 0 {
		offs, e := st.allocPrefixes(sn, req.prefixCount)
		if e != nil {
			return nil, nil, nil, nil, e
		}
		for _, off := range offs {
			sn.pfxOwner[off] = n
			p := netip.PrefixFrom(sn.addr(off), 28)
			n.pfx = append(n.pfx, prefixEntry{p: p, at: now})
			pfx = append(pfx, p)
		}
	}
	return n, ips, pfx, moved, nil
}

func (st *state) unassign(eniID string, ips []netip.Addr, pfx []netip.Prefix) (*eni, *Error) {
	n, e := st.findENI(eniID)
	if e != nil {
		return nil, e
	}
	if len(ips) == 0 && len(pfx) == 0 {
		return nil, missingParam("PrivateIpAddress or Ipv4Prefix")
	}
	if len(ips) > 0 && len(pfx) > 0 {
		return nil, errCode("InvalidParameterCombination", 400, "You may unassign private IP addresses or IPv4 prefixes in one request, not both.")
	}
	sn := n.subnet
	have := make(map[netip.Addr]int, len(n.ips))
	for i, a := range n.ips {
		have[a.a] = i
	}
	for _, a := range ips {
		i, ok := have[a]
		if !ok {
			return nil, invalidParam("Some of the specified addresses are not assigned to interface %s", eniID)
		}
		if i == 0 {
			return nil, invalidParam("The primary private IP address %s of %s cannot be unassigned.", a, eniID)
		}
	}
	haveP := make(map[netip.Prefix]bool, len(n.pfx))
	for _, p := range n.pfx {
		haveP[p.p] = true
	}
	for _, p := range pfx {
		if !haveP[p] {
			return nil, invalidParam("Some of the specified prefixes are not assigned to interface %s", eniID)
		}
	}
	drop := make(map[netip.Addr]bool, len(ips))
	for _, a := range ips {
		if drop[a] {
			continue
		}
		drop[a] = true
		off, _ := sn.offset(a)
		delete(sn.ipOwner, off)
		sn.release(off)
	}
	n.ips = slices.DeleteFunc(n.ips, func(x addrEntry) bool { return drop[x.a] })
	dropP := make(map[netip.Prefix]bool, len(pfx))
	for _, p := range pfx {
		if dropP[p] {
			continue
		}
		dropP[p] = true
		off, _ := sn.offset(p.Addr())
		delete(sn.pfxOwner, off)
		for i := uint32(0); i < 16; i++ {
			sn.release(off + i)
		}
	}
	n.pfx = slices.DeleteFunc(n.pfx, func(x prefixEntry) bool { return dropP[x.p] })
	return n, nil
}

// ---- instances ----

func (st *state) runInstances(typ, subnetID string, groups []string, primary netip.Addr, count int, imageID string, tags map[string]string, now time.Time) ([]*instance, *Error) {
	if subnetID == "" {
		return nil, errCode("VPCIdNotSpecified", 400, "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.")
	}
	sn, ok := st.subnets[subnetID]
	if !ok {
		return nil, subnetNotFound(subnetID)
	}
	if typ == "" {
		return nil, missingParam("InstanceType")
	}
	lim, ok := ec2limits.Lookup(typ)
	if !ok {
		return nil, invalidParam("The instance type '%s' does not exist", typ)
	}
	if primary.IsValid() && count > 1 {
		return nil, errCode("InvalidParameterCombination", 400, "Cannot specify a private IP address when launching more than one instance.")
	}
	if count > sn.free && !primary.IsValid() {
		return nil, errCode("InsufficientFreeAddressesInSubnet", 400,
			"The specified subnet %s does not have enough free addresses to satisfy the request.", sn.id)
	}
	if _, e := st.checkGroups(sn.vpcID, groups); e != nil {
		return nil, e
	}
	resID := st.newID("r")
	var out []*instance
	for range count {
		n, e := st.createENI(eniRequest{subnetID: subnetID, groups: groups, primary: primary,
			desc: ""}, now)
		if e != nil { // roll back: the call launches all or nothing
			for _, in := range out {
				st.terminate(in)
				delete(st.instances, in.id)
			}
			st.instOrder = st.instOrder[:len(st.instOrder)-len(out)]
			return nil, e
		}
		in := &instance{
			id: st.newID("i"), typ: typ, az: sn.az, lim: lim, subnet: sn, primaryIP: n.ips[0].a,
			sgs: n.sgs, state: "running", launched: now, tags: map[string]string{}, seq: st.nextSeq(),
			imageID: imageID, reservationID: resID,
		}
		for k, v := range tags {
			in.tags[k] = v
		}
		st.instances[in.id] = in
		st.instOrder = append(st.instOrder, in)
		n.inst, n.device, n.card, n.dot = in, 0, lim.DefaultNetworkCard, true
		n.attachID = st.newID("eni-attach")
		n.attachTime = now
		st.attachments[n.attachID] = n
		in.enis = append(in.enis, n)
		out = append(out, in)
	}
	return out, nil
}

// terminate detaches every ENI, deletes those marked DeleteOnTermination
// and returns them in (detached, deleted) order.
func (st *state) terminate(in *instance) (detached, deleted []*eni) {
	if in.state != "running" {
		return nil, nil
	}
	enis := slices.Clone(in.enis)
	sort.Slice(enis, func(i, j int) bool { return enis[i].seq < enis[j].seq })
	for _, n := range enis {
		dot := n.dot
		st.detachENI(n)
		detached = append(detached, n)
		if dot {
			st.freeENI(n)
			deleted = append(deleted, n)
		}
	}
	in.state = "terminated"
	return detached, deleted
}

// isPrimary reports whether n is its instance's primary ENI: device 0 on
// the default network card, which EC2 never detaches.
func (n *eni) isPrimary() bool {
	return n.inst != nil && n.device == 0 && n.card == n.inst.lim.DefaultNetworkCard
}
