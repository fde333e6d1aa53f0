package fakeec2

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
)

// Public IPv4 addresses: the pool EC2 draws them from, the public address
// of an instance launched in a subnet with MapPublicIpOnLaunch, and Elastic
// IPs. Everything here runs with Server.mu held.

// PublicPool is the block every public address of the fake comes from
// (TEST-NET-2, RFC 5737): nothing real is ever named.
var PublicPool = netip.MustParsePrefix("198.51.100.0/24")

// maxEIPs is EC2's default Elastic IP quota per region.
const maxEIPs = 5

type eip struct {
	allocID, assocID string
	public           netip.Addr
	n                *eni // associated ENI, nil when not associated
	private          netip.Addr
	tags             map[string]string
	seq              uint64
}

func allocationNotFound(id string) *Error {
	if e := allocationIDs.check(id); e != nil {
		return e
	}
	return notFound("InvalidAllocationID.NotFound", "allocation", id)
}

// takePublic hands out the lowest free address of the pool (.0, .1 and the
// broadcast address stay unused, the fabric's link uses .1).
func (st *state) takePublic() (netip.Addr, *Error) {
	a := PublicPool.Addr().Next().Next()
	for PublicPool.Contains(a) && a != lastAddr(PublicPool) {
		if !st.publicUsed[a] {
			st.publicUsed[a] = true
			return a, nil
		}
		a = a.Next()
	}
	return netip.Addr{}, errCode("InsufficientAddressCapacity", 400, "There are not enough free public addresses to satisfy the request.")
}

// publicFree counts the pool's addresses takePublic can still hand out.
func (st *state) publicFree() int {
	return 1<<(32-PublicPool.Bits()) - 3 - len(st.publicUsed)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// mapPublic gives an instance's primary ENI an Amazon-owned public address
// (RunInstances in a subnet with MapPublicIpOnLaunch).
func (st *state) mapPublic(n *eni) *Error {
	a, e := st.takePublic()
	if e != nil {
		return e
	}
	n.public = a
	return nil
}

// dropPublic releases what an ENI going away holds: an Amazon-owned address
// back to the pool, an Elastic IP back to its allocation (still allocated).
func (st *state) dropPublic(n *eni) {
	if !n.public.IsValid() {
		return
	}
	if n.eip != nil {
		n.eip.n, n.eip.assocID, n.eip.private = nil, "", netip.Addr{}
	} else {
		delete(st.publicUsed, n.public)
	}
	n.public, n.eip = netip.Addr{}, nil
}

func (st *state) allocateAddress(domain string) (*eip, *Error) {
	if domain != "" && domain != "vpc" && domain != "standard" {
		return nil, invalidParam("Value (%s) for parameter domain is invalid.", truncate(domain, 64))
	}
	if len(st.eips) >= maxEIPs {
		return nil, errCode("AddressLimitExceeded", 400, "The maximum number of addresses has been reached.")
	}
	a, e := st.takePublic()
	if e != nil {
		return nil, e
	}
	x := &eip{allocID: st.newID("eipalloc"), public: a, tags: map[string]string{}, seq: st.nextSeq()}
	st.eips[x.allocID] = x
	return x, nil
}

func (st *state) findEIP(allocID string) (*eip, *Error) {
	if allocID == "" {
		return nil, missingParam("AllocationId")
	}
	x, ok := st.eips[allocID]
	if !ok {
		return nil, allocationNotFound(allocID)
	}
	return x, nil
}

// associateAddress puts an Elastic IP on an ENI's primary address; an ENI
// holding another public address gives it up (an Amazon-owned one goes back
// to the pool), as EC2 does.
func (st *state) associateAddress(allocID, eniID string) (*eip, *Error) {
	x, e := st.findEIP(allocID)
	if e != nil {
		return nil, e
	}
	n, e := st.findENI(eniID)
	if e != nil {
		return nil, e
	}
	if x.n != nil && x.n != n {
		return nil, errCode("Resource.AlreadyAssociated", 400, "resource %s is already associated with associate-id %s", x.allocID, x.assocID)
	}
	if x.n == n {
		return x, nil
	}
	st.dropPublic(n)
	x.n, x.private, x.assocID = n, n.ips[0].a, st.newID("eipassoc")
	n.public, n.eip = x.public, x
	return x, nil
}

func (st *state) releaseAddress(allocID string) *Error {
	x, e := st.findEIP(allocID)
	if e != nil {
		return e
	}
	if x.n != nil {
		return errCode("InvalidIPAddress.InUse", 400, "Address %s is in use.", x.public)
	}
	delete(st.publicUsed, x.public)
	delete(st.eips, allocID)
	return nil
}

func (st *state) sortedEIPs() []*eip {
	out := make([]*eip, 0, len(st.eips))
	for _, x := range st.eips {
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b *eip) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// publicIP is the public address of the instance's primary ENI, if any.
func (in *instance) publicIP() netip.Addr {
	if in.state != "running" {
		return netip.Addr{}
	}
	for _, n := range in.enis {
		if n.isPrimary() {
			return n.public
		}
	}
	return netip.Addr{}
}

// publicDNS is EC2's public DNS name of a: ec2-198-51-100-2.<region>.compute.amazonaws.com.
func publicDNS(a netip.Addr, region string) string {
	if !a.IsValid() {
		return ""
	}
	return "ec2-" + strings.ReplaceAll(a.String(), ".", "-") + "." + region + ".compute.amazonaws.com"
}

// ipOwner is who owns an ENI's public address: "amazon" for an address
// mapped on launch, the account for an Elastic IP.
func (s *Server) ipOwner(n *eni) string {
	switch {
	case !n.public.IsValid():
		return ""
	case n.eip != nil:
		return s.cfg.AccountID
	}
	return "amazon"
}

// writeAssociation writes an ENI's public address association, as
// DescribeNetworkInterfaces and DescribeInstances nest it.
func (s *Server) writeAssociation(x *xw, n *eni) {
	if !n.public.IsValid() {
		return
	}
	x.open("association")
	if n.eip != nil {
		x.el("allocationId", n.eip.allocID)
		x.el("associationId", n.eip.assocID)
	}
	x.el("ipOwnerId", s.ipOwner(n))
	x.el("publicDnsName", publicDNS(n.public, s.cfg.Region))
	x.elAddr("publicIp", n.public)
	x.close("association")
}
