package fakeec2

import "net/netip"

// Address bookkeeping inside a subnet: taking and releasing offsets and /28
// blocks, EC2's own picks, and checks of the caller's picks. Everything
// here runs with Server.mu held.

func (sn *subnet) reserved(off uint32) bool {
	return sn.resvPrefix.has(off) || sn.resvExplicit.has(off)
}

func (sn *subnet) take(off uint32) {
	if !sn.used.has(off) && !sn.reserved(off) {
		sn.free--
	}
	sn.used.set(off)
}

func (sn *subnet) release(off uint32) {
	if sn.used.has(off) && !sn.reserved(off) {
		sn.free++
	}
	sn.used.clear(off)
}

// prefixLen is the number of addresses in a delegated /28 prefix.
const prefixLen = 16

// takePrefix takes the 16 addresses of the /28 block starting at off.
func (sn *subnet) takePrefix(off uint32) {
	for i := range uint32(prefixLen) {
		sn.take(off + i)
	}
}

// releasePrefix gives back the 16 addresses of the /28 block starting at
// off.
func (sn *subnet) releasePrefix(off uint32) {
	for i := range uint32(prefixLen) {
		sn.release(off + i)
	}
}

func (sn *subnet) offset(a netip.Addr) (uint32, bool) {
	if !a.Is4() || !sn.cidr.Contains(a) {
		return 0, false
	}
	return addrToU32(a) - sn.base, true
}

func (sn *subnet) addr(off uint32) netip.Addr { return u32ToAddr(sn.base + off) }

func (sn *subnet) isEdge(off uint32) bool { return off <= 3 || off == sn.size-1 }

// allocIPs picks n addresses EC2 would choose on its own: free, outside
// every reservation, starting at a seeded random offset.
func (st *state) allocIPs(sn *subnet, n int) ([]uint32, *Error) {
	if n > sn.free {
		return nil, insufficientAddresses(sn)
	}
	out := make([]uint32, 0, n)
	for range n {
		off, ok := nextFree(sn.size, st.addrs.Uint32N(sn.size), sn.used, sn.resvPrefix, sn.resvExplicit)
		if !ok { // cannot happen while free is right; fail safe
			for _, o := range out {
				sn.release(o)
			}
			return nil, insufficientAddresses(sn)
		}
		sn.take(off)
		out = append(out, off)
	}
	return out, nil
}

// allocPrefixes picks n free /28 blocks: first inside prefix reservations,
// then anywhere no reservation touches.
func (st *state) allocPrefixes(sn *subnet, n int) ([]uint32, *Error) {
	out := make([]uint32, 0, n)
	took := func(b uint32) {
		sn.takePrefix(b)
		out = append(out, b)
	}
	for _, r := range sn.reservations {
		if r.typ != "prefix" || r.p.Bits() > 28 {
			continue
		}
		start := addrToU32(r.p.Addr()) - sn.base
		end := start + uint32(1)<<(32-r.p.Bits())
		for b := start; b < end && len(out) < n; b += 16 {
			if sn.used.block16(b) == 0 {
				took(b)
			}
		}
	}
	blocks := sn.size / 16
	if len(out) < n && blocks > 0 {
		first := st.addrs.Uint32N(blocks)
		for i := uint32(0); i < blocks && len(out) < n; i++ {
			b := ((first + i) % blocks) * 16
			if sn.used.block16(b) == 0 && sn.resvPrefix.block16(b) == 0 && sn.resvExplicit.block16(b) == 0 {
				took(b)
			}
		}
	}
	if len(out) < n {
		for _, b := range out {
			sn.releasePrefix(b)
		}
		if sn.free == 0 {
			return nil, insufficientAddresses(sn)
		}
		return nil, errCode("InsufficientCidrBlocks", 400,
			"The specified subnet %s does not have enough free cidr blocks to satisfy the request.", sn.id)
	}
	return out, nil
}

// checkExplicitIP validates an address the caller chose; reassign lets it
// move from another ENI of the same subnet.
func (st *state) checkExplicitIP(sn *subnet, a netip.Addr, reassign bool, to *eni) (uint32, *Error) {
	off, ok := sn.offset(a)
	if !ok {
		return 0, invalidParam("Address %s does not fall within the subnet's address range", a)
	}
	if sn.isEdge(off) {
		return 0, invalidParam("Address %s is in subnet's reserved address range", a)
	}
	if sn.resvPrefix.has(off) {
		return 0, invalidParam("Address %s is inside a prefix CIDR reservation of subnet %s", a, sn.id)
	}
	if sn.used.has(off) {
		owner := sn.ipOwner[off]
		if owner == nil || owner == to || !reassign || owner.ips[0].a == a {
			return 0, errCode("InvalidIPAddress.InUse", 400, "Address %s is in use.", a)
		}
	}
	return off, nil
}

// checkExplicitPrefix validates a prefix the caller chose. Like a chosen
// address it may lie in an explicit reservation: those are kept for the
// caller to assign ("You assign the reserved IP addresses"); EC2 only
// never picks from them on its own.
func (st *state) checkExplicitPrefix(sn *subnet, p netip.Prefix) (uint32, *Error) {
	if p.Bits() != 28 {
		return 0, invalidParam("Value (%s) for parameter Ipv4Prefix is invalid. Only /28 prefixes are supported.", p)
	}
	off, ok := sn.offset(p.Addr())
	if !ok || p.Bits() < sn.cidr.Bits() {
		return 0, invalidParam("Prefix %s does not fall within the subnet's address range", p)
	}
	if sn.used.block16(off) != 0 {
		return 0, errCode("InvalidParameterValue", 400, "Prefix %s is in use or overlaps the subnet's reserved addresses.", p)
	}
	return off, nil
}
