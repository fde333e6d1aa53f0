package fakeec2

import (
	"cmp"
	"slices"
	"time"
)

// NAT gateways: an ENI in a subnet holding an Elastic IP. Everything here
// runs with Server.mu held.

type natGateway struct {
	id      string
	subnet  *subnet
	n       *eni
	eip     *eip
	state   string // available | deleted (the fake skips pending and deleting)
	created time.Time
	tags    map[string]string
	seq     uint64
}

func natGatewayNotFound(id string) *Error {
	if e := natGatewayIDs.check(id); e != nil {
		return e
	}
	return errCode("NatGatewayNotFound", 400, "The Nat Gateway %s was not found", id)
}

// createNatGateway makes a public NAT gateway: its ENI takes an address of
// the subnet and the Elastic IP. (EC2 reports pending for a minute or so;
// the fake is available at once.)
func (st *state) createNatGateway(subnetID, allocID, connectivity string, now time.Time) (*natGateway, *Error) {
	if subnetID == "" {
		return nil, missingParam("SubnetId")
	}
	if connectivity != "" && connectivity != "public" {
		return nil, invalidParam("Value (%s) for parameter ConnectivityType is invalid: the fake serves public NAT gateways only.", truncate(connectivity, 64))
	}
	sn, ok := st.subnets[subnetID]
	if !ok {
		return nil, subnetNotFound(subnetID)
	}
	if allocID == "" {
		return nil, missingParam("AllocationId")
	}
	x, e := st.findEIP(allocID)
	if e != nil {
		return nil, e
	}
	if x.n != nil {
		return nil, errCode("Resource.AlreadyAssociated", 400, "Elastic IP address [%s] is already associated", x.allocID)
	}
	id := st.newID("nat")
	n, e := st.createENI(eniRequest{subnetID: sn.id, desc: "Interface for NAT Gateway " + id, ifType: "nat_gateway"}, now)
	if e != nil {
		return nil, e
	}
	n.requester = true
	g := &natGateway{id: id, subnet: sn, n: n, state: "available", created: now, tags: map[string]string{}, seq: st.nextSeq()}
	if _, e := st.associateAddress(x.allocID, n.id); e != nil {
		st.freeENI(n)
		return nil, e
	}
	g.eip = x
	st.natgws[id] = g
	return g, nil
}

func (st *state) deleteNatGateway(id string) (*natGateway, *Error) {
	if id == "" {
		return nil, missingParam("NatGatewayId")
	}
	g, ok := st.natgws[id]
	if !ok || g.state == "deleted" {
		return nil, natGatewayNotFound(id)
	}
	st.freeENI(g.n)
	g.state = "deleted"
	return g, nil
}

func (st *state) sortedNatGateways() []*natGateway {
	out := make([]*natGateway, 0, len(st.natgws))
	for _, g := range st.natgws {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *natGateway) int { return cmp.Compare(a.seq, b.seq) })
	return out
}
