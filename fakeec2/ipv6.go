package fakeec2

import (
	"net/netip"
	"slices"
	"time"
)

// IPv6 as EKS's IPv6 mode uses it: an Amazon-provided /56 per VPC, one /64
// per subnet, and on an ENI IPv6 addresses and /80 prefixes (prefix
// delegation, Nitro only) counted together against the instance type's
// IPv6-addresses-per-interface limit. Everything here runs with Server.mu
// held.

// maxIPv6BlocksPerVPC is EC2's default quota of IPv6 CIDR blocks per VPC.
const maxIPv6BlocksPerVPC = 5

// amazonIPv6Pool is where Amazon-provided /56 blocks come from (a block
// of the range EC2 uses in us-west-2).
var amazonIPv6Pool = netip.MustParsePrefix("2600:1f14::/32")

// subnetV6 is a subnet's IPv6 /64 and what of it is taken.
type subnetV6 struct {
	assoc cidrAssoc
	addrs map[netip.Addr]*eni
	pfx   map[netip.Prefix]*eni
}

// associateVPCIPv6 gives the VPC a new Amazon-provided /56.
func (st *state) associateVPCIPv6(vpcID string) (cidrAssoc, *Error) {
	v, ok := st.vpcs[vpcID]
	if !ok {
		return cidrAssoc{}, vpcNotFound(vpcID)
	}
	if len(v.ipv6) >= maxIPv6BlocksPerVPC {
		return cidrAssoc{}, errCode("CidrLimitExceeded", 400, "This network '%s' has met its maximum number of allowed IPv6 CIDRs: %d", vpcID, maxIPv6BlocksPerVPC)
	}
	for {
		b := amazonIPv6Pool.Addr().As16()
		b[4], b[5], b[6] = byte(st.addrs.IntN(256)), byte(st.addrs.IntN(256)), byte(st.addrs.IntN(256))
		p := netip.PrefixFrom(netip.AddrFrom16(b), 56)
		if !st.ipv6BlockTaken(p) {
			a := cidrAssoc{st.newID("vpc-cidr-assoc"), p}
			v.ipv6 = append(v.ipv6, a)
			return a, nil
		}
	}
}

func (st *state) ipv6BlockTaken(p netip.Prefix) bool {
	for _, v := range st.vpcs {
		for _, c := range v.ipv6 {
			if c.p.Overlaps(p) {
				return true
			}
		}
	}
	return false
}

// associateSubnetIPv6 gives the subnet its one /64, inside one of its
// VPC's IPv6 blocks and apart from every other subnet's.
func (st *state) associateSubnetIPv6(sn *subnet, cidr string) (cidrAssoc, *Error) {
	p, e := parseIPv6CIDR("Ipv6CidrBlock", cidr)
	if e != nil {
		return cidrAssoc{}, e
	}
	if p.Bits() != 64 {
		return cidrAssoc{}, errCode("InvalidSubnet.Range", 400, "The CIDR '%s' is invalid: an IPv6 subnet block must be a /64.", cidr)
	}
	inside := false
	for _, c := range st.vpcs[sn.vpcID].ipv6 {
		inside = inside || c.p.Contains(p.Addr())
	}
	if !inside {
		return cidrAssoc{}, errCode("InvalidSubnet.Range", 400, "The CIDR '%s' is invalid: it is not within the IPv6 CIDR blocks of VPC %s.", cidr, sn.vpcID)
	}
	if sn.v6 != nil {
		return cidrAssoc{}, invalidParam("The subnet '%s' already has an IPv6 CIDR block (%s); a subnet has at most one.", sn.id, sn.v6.assoc.p)
	}
	for _, other := range st.subnets {
		if other.v6 != nil && other.v6.assoc.p == p {
			return cidrAssoc{}, errCode("InvalidSubnet.Conflict", 400, "The CIDR '%s' conflicts with another subnet", cidr)
		}
	}
	sn.v6 = &subnetV6{assoc: cidrAssoc{st.newID("subnet-cidr-assoc"), p}, addrs: map[netip.Addr]*eni{}, pfx: map[netip.Prefix]*eni{}}
	return sn.v6.assoc, nil
}

// ipv6Request asks for exactly one of explicit addresses, an address
// count, explicit /80 prefixes or a prefix count.
type ipv6Request struct {
	eniID       string
	addrs       []netip.Addr
	count       int
	prefixes    []netip.Prefix
	prefixCount int
}

// assignIPv6 adds IPv6 addresses or /80 prefixes to an ENI and returns
// what it added.
func (st *state) assignIPv6(req ipv6Request, now time.Time) (*eni, []netip.Addr, []netip.Prefix, *Error) {
	n, e := st.findENI(req.eniID)
	if e != nil {
		return nil, nil, nil, e
	}
	if e := st.checkIPv6Request(n, req); e != nil {
		return nil, nil, nil, e
	}
	v6 := n.subnet.v6
	for i, a := range req.addrs {
		if e := v6.checkAddr(a); e != nil {
			return nil, nil, nil, e
		}
		if slices.Contains(req.addrs[:i], a) {
			return nil, nil, nil, invalidParam("Address %s is named twice in the request.", a)
		}
	}
	for i, p := range req.prefixes {
		if e := v6.checkPrefix(p); e != nil {
			return nil, nil, nil, e
		}
		if slices.Contains(req.prefixes[:i], p) {
			return nil, nil, nil, invalidParam("Prefix %s is named twice in the request.", p)
		}
	}
	addrs, prefixes := slices.Clone(req.addrs), slices.Clone(req.prefixes)
	// Picks are held at once, so the next pick does not take them again;
	// a failed request gives them back.
	undo := func() {
		for _, a := range addrs {
			delete(v6.addrs, a)
		}
		for _, p := range prefixes {
			delete(v6.pfx, p)
		}
	}
	for _, a := range addrs {
		v6.addrs[a] = n
	}
	for _, p := range prefixes {
		v6.pfx[p] = n
	}
	for range req.count {
		a, e := st.pickIPv6(v6)
		if e != nil {
			undo()
			return nil, nil, nil, e
		}
		v6.addrs[a] = n
		addrs = append(addrs, a)
	}
	for range req.prefixCount {
		p, e := st.pickIPv6Prefix(v6)
		if e != nil {
			undo()
			return nil, nil, nil, e
		}
		v6.pfx[p] = n
		prefixes = append(prefixes, p)
	}
	for _, a := range addrs {
		n.ipv6 = append(n.ipv6, addrEntry{a: a, at: now})
	}
	for _, p := range prefixes {
		n.pfx6 = append(n.pfx6, prefixEntry{p: p, at: now})
	}
	return n, addrs, prefixes, nil
}

// checkIPv6Request checks the parameter combination, that the ENI's
// subnet has a /64 and its instance type IPv6 (and, for prefixes, prefix
// delegation), and that the ENI has room.
func (st *state) checkIPv6Request(n *eni, req ipv6Request) *Error {
	wantAddrs := len(req.addrs) > 0 || req.count > 0
	wantPfx := len(req.prefixes) > 0 || req.prefixCount > 0
	switch {
	case len(req.addrs) > 0 && req.count > 0:
		return errCode("InvalidParameterCombination", 400, "You may specify Ipv6Addresses or Ipv6AddressCount, not both.")
	case len(req.prefixes) > 0 && req.prefixCount > 0:
		return errCode("InvalidParameterCombination", 400, "You may specify Ipv6Prefix or Ipv6PrefixCount, not both.")
	case wantAddrs && wantPfx:
		return errCode("InvalidParameterCombination", 400, "You may assign IPv6 addresses or IPv6 prefixes in one request, not both.")
	case !wantAddrs && !wantPfx:
		return missingParam("Ipv6Addresses, Ipv6AddressCount, Ipv6Prefix or Ipv6PrefixCount")
	}
	if n.subnet.v6 == nil {
		return invalidParam("The subnet %s of network interface %s has no IPv6 CIDR block.", n.subnet.id, n.id)
	}
	if n.inst != nil && !modern(n.inst.lim) {
		return invalidParam("IPv6 is not supported for the instance type %s.", n.inst.typ)
	}
	if wantPfx && n.inst != nil && !n.inst.lim.SupportsPrefixes() {
		return invalidParam("Prefix delegation is not supported for the instance type %s.", n.inst.typ)
	}
	add := len(req.addrs) + req.count + len(req.prefixes) + req.prefixCount
	if len(n.ipv6)+len(n.pfx6)+add > st.slotLimit(n) {
		return errCode("PrivateIpAddressLimitExceeded", 400, "Number of IPv6 addresses will exceed limit.")
	}
	return nil
}

// checkAddr validates an address the caller chose.
func (v6 *subnetV6) checkAddr(a netip.Addr) *Error {
	if !v6.assoc.p.Contains(a) {
		return invalidParam("Address %s does not fall within the subnet's IPv6 address range", a)
	}
	if v6.reserved(a) {
		return invalidParam("Address %s is in subnet's reserved address range", a)
	}
	if v6.addrs[a] != nil || v6.inPrefix(a) {
		return errCode("InvalidIPAddress.InUse", 400, "Address %s is in use.", a)
	}
	return nil
}

// checkPrefix validates a /80 the caller chose.
func (v6 *subnetV6) checkPrefix(p netip.Prefix) *Error {
	if p.Bits() != 80 {
		return invalidParam("Value (%s) for parameter Ipv6Prefix is invalid. Only /80 prefixes are supported.", p)
	}
	if !v6.assoc.p.Contains(p.Addr()) {
		return invalidParam("Prefix %s does not fall within the subnet's IPv6 address range", p)
	}
	if !v6.prefixFree(p) {
		return invalidParam("Prefix %s is in use or overlaps the subnet's reserved addresses.", p)
	}
	return nil
}

// reserved reports EC2's reserved IPv6 addresses of a subnet: its first
// four and its last.
func (v6 *subnetV6) reserved(a netip.Addr) bool {
	b := a.As16()
	return [7]byte(b[8:15]) == [7]byte{} && b[15] < 4 || a == lastOf(v6.assoc.p)
}

func (v6 *subnetV6) inPrefix(a netip.Addr) bool {
	_, ok := v6.pfx[netip.PrefixFrom(a, 80).Masked()]
	return ok
}

// prefixFree reports whether the /80 holds no reserved or assigned
// address and is not assigned itself.
func (v6 *subnetV6) prefixFree(p netip.Prefix) bool {
	if _, taken := v6.pfx[p]; taken || v6.reserved(p.Addr()) || p.Contains(lastOf(v6.assoc.p)) {
		return false
	}
	for a := range v6.addrs {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// pickIPv6 picks a free address of the /64 at random (seeded).
func (st *state) pickIPv6(v6 *subnetV6) (netip.Addr, *Error) {
	for range 1000 {
		b := v6.assoc.p.Addr().As16()
		for i := 8; i < 16; i++ {
			b[i] = byte(st.addrs.IntN(256))
		}
		a := netip.AddrFrom16(b)
		if !v6.reserved(a) && v6.addrs[a] == nil && !v6.inPrefix(a) {
			return a, nil
		}
	}
	return netip.Addr{}, insufficientV6(v6)
}

// pickIPv6Prefix picks a free /80 of the /64 at random (seeded), then in
// order once random picks keep meeting taken ones.
func (st *state) pickIPv6Prefix(v6 *subnetV6) (netip.Prefix, *Error) {
	at := func(i int) netip.Prefix {
		b := v6.assoc.p.Addr().As16()
		b[8], b[9] = byte(i>>8), byte(i)
		return netip.PrefixFrom(netip.AddrFrom16(b), 80)
	}
	for range 64 {
		if p := at(st.addrs.IntN(1 << 16)); v6.prefixFree(p) {
			return p, nil
		}
	}
	for i := range 1 << 16 {
		if p := at(i); v6.prefixFree(p) {
			return p, nil
		}
	}
	return netip.Prefix{}, insufficientV6(v6)
}

func insufficientV6(v6 *subnetV6) *Error {
	return errCode("InsufficientFreeAddressesInSubnet", 400, "The specified subnet does not have enough free IPv6 addresses in %s to satisfy the request.", v6.assoc.p)
}

// unassignIPv6 takes IPv6 addresses and prefixes off an ENI.
func (st *state) unassignIPv6(eniID string, addrs []netip.Addr, prefixes []netip.Prefix) (*eni, *Error) {
	n, e := st.findENI(eniID)
	if e != nil {
		return nil, e
	}
	if len(addrs) == 0 && len(prefixes) == 0 {
		return nil, missingParam("Ipv6Addresses or Ipv6Prefix")
	}
	for _, a := range addrs {
		if !slices.ContainsFunc(n.ipv6, func(x addrEntry) bool { return x.a == a }) {
			return nil, invalidParam("Some of the specified addresses are not assigned to interface %s", eniID)
		}
	}
	for _, p := range prefixes {
		if !slices.ContainsFunc(n.pfx6, func(x prefixEntry) bool { return x.p == p }) {
			return nil, invalidParam("Some of the specified prefixes are not assigned to interface %s", eniID)
		}
	}
	v6 := n.subnet.v6
	for _, a := range addrs {
		delete(v6.addrs, a)
	}
	for _, p := range prefixes {
		delete(v6.pfx, p)
	}
	n.ipv6 = slices.DeleteFunc(n.ipv6, func(x addrEntry) bool { return slices.Contains(addrs, x.a) })
	n.pfx6 = slices.DeleteFunc(n.pfx6, func(x prefixEntry) bool { return slices.Contains(prefixes, x.p) })
	return n, nil
}

// freeIPv6 returns everything IPv6 the ENI holds to its subnet.
func (n *eni) freeIPv6() {
	if v6 := n.subnet.v6; v6 != nil {
		for _, a := range n.ipv6 {
			delete(v6.addrs, a.a)
		}
		for _, p := range n.pfx6 {
			delete(v6.pfx, p.p)
		}
	}
	n.ipv6, n.pfx6 = nil, nil
}

// lastOf is the last address of p.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	return netip.AddrFrom16(b)
}

func parseIPv6(name, s string) (netip.Addr, *Error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Is4In6() {
		return netip.Addr{}, invalidParam("Value (%s) for parameter %s is invalid. This is not a valid IPv6 address.", s, name)
	}
	return a, nil
}

func parseIPv6CIDR(name, s string) (netip.Prefix, *Error) {
	if s == "" {
		return netip.Prefix{}, missingParam(name)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		return netip.Prefix{}, invalidParam("Value (%s) for parameter %s is invalid. This is not a valid IPv6 CIDR block.", s, name)
	}
	if p.Masked() != p {
		return netip.Prefix{}, invalidParam("Value (%s) for parameter %s is invalid. The CIDR is not aligned to its prefix length (did you mean %s?).", s, name, p.Masked())
	}
	return p, nil
}
