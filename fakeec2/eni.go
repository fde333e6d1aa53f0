package fakeec2

import (
	"maps"
	"net/netip"
	"slices"
	"time"
)

// ENIs, their addresses and attachments. Everything here runs with
// Server.mu held.

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

// addrs returns every address the request names, the primary first.
func (req eniRequest) addrs() []netip.Addr {
	if req.primary.IsValid() {
		return append([]netip.Addr{req.primary}, req.ips...)
	}
	return req.ips
}

// createENI validates the whole request before it takes any address, so a
// failed call leaves the subnet as it was.
func (st *state) createENI(req eniRequest, now time.Time) (*eni, *Error) {
	sn, groups, e := st.checkENIRequest(req)
	if e != nil {
		return nil, e
	}
	all := req.addrs()
	explicit, e := st.checkExplicitIPs(sn, all, false, nil)
	if e != nil {
		return nil, e
	}
	// Both lists are checked against the subnet only: an address inside a
	// prefix of the same request would be handed out twice.
	pfxOffs, e := st.checkExplicitPrefixes(sn, req.prefixes, all)
	if e != nil {
		return nil, e
	}
	autoIPs := req.ipCount
	if !req.primary.IsValid() {
		autoIPs++
	}
	if autoIPs > sn.free {
		return nil, insufficientAddresses(sn)
	}
	autoI, autoP, e := st.takeENIAddresses(sn, explicit, pfxOffs, autoIPs, req.prefixCount)
	if e != nil {
		return nil, e
	}
	n := &eni{
		id: st.newID("eni"), mac: st.newMAC(), desc: req.desc, ifType: req.ifType, subnet: sn,
		tags: map[string]string{}, sgs: groups, seq: st.nextSeq(),
	}
	if n.ifType == "" {
		n.ifType = "interface"
	}
	maps.Copy(n.tags, req.tags)
	// An automatic primary comes first; explicit secondaries keep the
	// order the caller gave.
	var ipOffs []uint32
	if req.primary.IsValid() {
		ipOffs = slices.Concat(explicit, autoI)
	} else {
		ipOffs = slices.Concat(autoI[:1], explicit, autoI[1:])
	}
	for _, off := range ipOffs {
		n.holdIP(off, time.Time{})
	}
	for _, off := range slices.Concat(pfxOffs, autoP) {
		n.holdPrefix(off, time.Time{})
	}
	st.enis[n.id] = n
	st.eniList = append(st.eniList, n)
	return n, nil
}

// checkENIRequest checks what createENI can check without looking at
// addresses: the subnet, the groups and the parameter combinations.
func (st *state) checkENIRequest(req eniRequest) (*subnet, []string, *Error) {
	if req.subnetID == "" {
		return nil, nil, missingParam("SubnetId")
	}
	sn, ok := st.subnets[req.subnetID]
	if !ok {
		return nil, nil, subnetNotFound(req.subnetID)
	}
	groups, e := st.checkGroups(sn.vpcID, req.groups, securityGroupNotFound)
	if e != nil {
		return nil, nil, e
	}
	if len(req.ips) > 0 && req.ipCount > 0 {
		return nil, nil, errCode("InvalidParameterCombination", 400, "You may specify secondary addresses or a secondary address count, not both.")
	}
	if len(req.prefixes) > 0 && req.prefixCount > 0 {
		return nil, nil, errCode("InvalidParameterCombination", 400, "You may specify IPv4 prefixes or a prefix count, not both.")
	}
	slots := 1 + len(req.ips) + req.ipCount + len(req.prefixes) + req.prefixCount
	if slots > maxIPv4PerENI {
		return nil, nil, errCode("PrivateIpAddressLimitExceeded", 400, "Number of private addresses will exceed limit.")
	}
	return sn, groups, nil
}

// takeENIAddresses takes the checked explicit addresses and prefixes, then
// picks autoIPs addresses and autoPrefixes prefixes; on failure it gives
// back everything it took.
func (st *state) takeENIAddresses(sn *subnet, explicit, pfxOffs []uint32, autoIPs, autoPrefixes int) (autoI, autoP []uint32, e *Error) {
	for _, off := range explicit {
		sn.take(off)
	}
	for _, off := range pfxOffs {
		sn.takePrefix(off)
	}
	undo := func() {
		for _, off := range explicit {
			sn.release(off)
		}
		for _, off := range pfxOffs {
			sn.releasePrefix(off)
		}
	}
	if autoPrefixes > 0 {
		autoP, e = st.allocPrefixes(sn, autoPrefixes)
		if e != nil {
			undo()
			return nil, nil, e
		}
	}
	autoI, e = st.allocIPs(sn, autoIPs)
	if e != nil {
		undo()
		for _, off := range autoP {
			sn.releasePrefix(off)
		}
		return nil, nil, e
	}
	return autoI, autoP, nil
}

// checkExplicitIPs validates addresses the caller chose (see
// checkExplicitIP) and returns their offsets; a repeated address is an
// error.
func (st *state) checkExplicitIPs(sn *subnet, addrs []netip.Addr, reassign bool, to *eni) ([]uint32, *Error) {
	var offs []uint32
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		if seen[a] {
			return nil, invalidParam("Address %s is listed more than once.", a)
		}
		seen[a] = true
		off, e := st.checkExplicitIP(sn, a, reassign, to)
		if e != nil {
			return nil, e
		}
		offs = append(offs, off)
	}
	return offs, nil
}

// checkExplicitPrefixes validates prefixes the caller chose (see
// checkExplicitPrefix) and returns their offsets; a repeated prefix, or
// one holding an address of addrs, is an error.
func (st *state) checkExplicitPrefixes(sn *subnet, prefixes []netip.Prefix, addrs []netip.Addr) ([]uint32, *Error) {
	var offs []uint32
	seen := map[netip.Prefix]bool{}
	for _, p := range prefixes {
		if seen[p] {
			return nil, invalidParam("Prefix %s is listed more than once.", p)
		}
		seen[p] = true
		off, e := st.checkExplicitPrefix(sn, p)
		if e != nil {
			return nil, e
		}
		for _, a := range addrs {
			if p.Contains(a) {
				return nil, errCode("InvalidIPAddress.InUse", 400, "Address %s is inside the requested prefix %s.", a, p)
			}
		}
		offs = append(offs, off)
	}
	return offs, nil
}

// holdIP records the taken address at off as n's, assigned at at (zero:
// visible at once), and returns it.
func (n *eni) holdIP(off uint32, at time.Time) netip.Addr {
	a := n.subnet.addr(off)
	n.subnet.ipOwner[off] = n
	n.ips = append(n.ips, addrEntry{a: a, at: at})
	return a
}

// holdPrefix records the taken /28 at off as n's, assigned at at (zero:
// visible at once), and returns it.
func (n *eni) holdPrefix(off uint32, at time.Time) netip.Prefix {
	p := netip.PrefixFrom(n.subnet.addr(off), 28)
	n.subnet.pfxOwner[off] = n
	n.pfx = append(n.pfx, prefixEntry{p: p, at: at})
	return p
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
		sn.releasePrefix(off)
	}
	n.ips, n.pfx = nil, nil
	n.freeIPv6()
	st.trunkGone(n)
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
	if e := checkTrunkAttach(n, in); e != nil {
		return nil, e
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
	if n.ifType == "trunk" {
		st.trunkGone(n)
	}
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

// assignment is what assign added to eni. moved holds each other ENI that
// lost addresses to it (AllowReassignment) once, so that every changed ENI
// gets one event.
type assignment struct {
	eni      *eni
	ips      []netip.Addr
	prefixes []netip.Prefix
	moved    []*eni
}

// assign adds addresses or prefixes to an ENI; a request asks for exactly
// one of explicit addresses, an address count, explicit prefixes or a
// prefix count.
func (st *state) assign(req assignRequest, now time.Time) (assignment, *Error) {
	n, e := st.findENI(req.eniID)
	if e != nil {
		return assignment{}, e
	}
	if e := st.checkAssignRequest(n, req); e != nil {
		return assignment{}, e
	}
	out := assignment{eni: n}
	switch {
	case len(req.ips) > 0:
		e = st.assignExplicitIPs(&out, req.ips, req.reassign, now)
	case req.ipCount > 0:
		e = st.assignIPCount(&out, req.ipCount, now)
	case len(req.prefixes) > 0:
		e = st.assignExplicitPrefixes(&out, req.prefixes, now)
	case req.prefixCount > 0:
		e = st.assignPrefixCount(&out, req.prefixCount, now)
	}
	if e != nil {
		return assignment{}, e
	}
	return out, nil
}

// checkAssignRequest checks the parameter combination and that n has room
// for what the request adds.
func (st *state) checkAssignRequest(n *eni, req assignRequest) *Error {
	wantIPs := len(req.ips) > 0 || req.ipCount > 0
	wantPfx := len(req.prefixes) > 0 || req.prefixCount > 0
	switch {
	case len(req.ips) > 0 && req.ipCount > 0:
		return errCode("InvalidParameterCombination", 400, "You may specify PrivateIpAddress or SecondaryPrivateIpAddressCount, not both.")
	case len(req.prefixes) > 0 && req.prefixCount > 0:
		return errCode("InvalidParameterCombination", 400, "You may specify Ipv4Prefix or Ipv4PrefixCount, not both.")
	case wantIPs && wantPfx:
		return errCode("InvalidParameterCombination", 400, "You may assign private IP addresses or IPv4 prefixes in one request, not both.")
	case !wantIPs && !wantPfx:
		return missingParam("PrivateIpAddress, SecondaryPrivateIpAddressCount, Ipv4Prefix or Ipv4PrefixCount")
	}
	if wantPfx && n.inst != nil && !n.inst.lim.SupportsPrefixes() {
		return invalidParam("Prefix delegation is not supported for the instance type %s.", n.inst.typ)
	}
	add := len(req.ips) + req.ipCount + len(req.prefixes) + req.prefixCount
	if slotsUsed(n)+add > st.slotLimit(n) {
		return errCode("PrivateIpAddressLimitExceeded", 400, "Number of private addresses will exceed limit.")
	}
	return nil
}

// assignExplicitIPs gives out.eni the addresses the caller chose; with
// reassign an address may move from another ENI, which out.moved records.
func (st *state) assignExplicitIPs(out *assignment, addrs []netip.Addr, reassign bool, now time.Time) *Error {
	n, sn := out.eni, out.eni.subnet
	offs, e := st.checkExplicitIPs(sn, addrs, reassign, n)
	if e != nil {
		return e
	}
	for _, off := range offs {
		if old := sn.ipOwner[off]; old != nil && old != n {
			a := sn.addr(off)
			old.ips = slices.DeleteFunc(old.ips, func(x addrEntry) bool { return x.a == a })
			if !slices.Contains(out.moved, old) {
				out.moved = append(out.moved, old)
			}
		}
		sn.take(off)
		out.ips = append(out.ips, n.holdIP(off, now))
	}
	return nil
}

// assignIPCount gives out.eni count addresses EC2 picks.
func (st *state) assignIPCount(out *assignment, count int, now time.Time) *Error {
	offs, e := st.allocIPs(out.eni.subnet, count)
	if e != nil {
		return e
	}
	for _, off := range offs {
		out.ips = append(out.ips, out.eni.holdIP(off, now))
	}
	return nil
}

// assignExplicitPrefixes gives out.eni the /28 prefixes the caller chose.
func (st *state) assignExplicitPrefixes(out *assignment, prefixes []netip.Prefix, now time.Time) *Error {
	sn := out.eni.subnet
	offs, e := st.checkExplicitPrefixes(sn, prefixes, nil)
	if e != nil {
		return e
	}
	for _, off := range offs {
		sn.takePrefix(off)
		out.prefixes = append(out.prefixes, out.eni.holdPrefix(off, now))
	}
	return nil
}

// assignPrefixCount gives out.eni count /28 prefixes EC2 picks.
func (st *state) assignPrefixCount(out *assignment, count int, now time.Time) *Error {
	offs, e := st.allocPrefixes(out.eni.subnet, count)
	if e != nil {
		return e
	}
	for _, off := range offs {
		out.prefixes = append(out.prefixes, out.eni.holdPrefix(off, now))
	}
	return nil
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
		sn.releasePrefix(off)
	}
	n.pfx = slices.DeleteFunc(n.pfx, func(x prefixEntry) bool { return dropP[x.p] })
	return n, nil
}

// isPrimary reports whether n is its instance's primary ENI: device 0 on
// the default network card, which EC2 never detaches.
func (n *eni) isPrimary() bool {
	return n.inst != nil && n.device == 0 && n.card == n.inst.lim.DefaultNetworkCard
}
