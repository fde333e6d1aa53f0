package fakeec2

import "sort"

// Trunk and branch ENIs, as the VPC resource controller uses them for
// security groups for pods: a trunk ENI (InterfaceType trunk) attached to
// an instance whose type supports trunking, and branch ENIs (InterfaceType
// branch), never attached themselves, each associated with the trunk under
// its own VLAN id, up to the instance type's branch limit. Everything here
// runs with Server.mu held.

type trunkAssoc struct {
	id            string
	trunk, branch *eni
	vlan          int
	seq           uint64
}

// checkTrunkAttach refuses what EC2 refuses when an ENI is attached: a
// branch ENI at all, a trunk ENI to a type without trunking.
func checkTrunkAttach(n *eni, in *instance) *Error {
	switch n.ifType {
	case "branch":
		return invalidParam("The network interface %s is a branch interface: associate it with a trunk interface instead of attaching it.", n.id)
	case "trunk":
		if in.lim.Trunking != "true" {
			return errCode("UnsupportedOperation", 400, "The instance type %s does not support trunk network interfaces.", in.typ)
		}
		for _, o := range in.enis {
			if o.ifType == "trunk" {
				return invalidParam("Instance %s already has the trunk network interface %s.", in.id, o.id)
			}
		}
	}
	return nil
}

// associateTrunk associates a branch ENI with a trunk ENI under vlan.
func (st *state) associateTrunk(branchID, trunkID string, vlan int) (*trunkAssoc, *Error) {
	b, e := st.findENI(branchID)
	if e != nil {
		return nil, e
	}
	t, e := st.findENI(trunkID)
	if e != nil {
		return nil, e
	}
	switch {
	case t.ifType != "trunk":
		return nil, invalidParam("The network interface %s is not a trunk interface.", trunkID)
	case t.inst == nil:
		return nil, errCode("IncorrectState", 400, "The trunk interface %s is not attached to an instance.", trunkID)
	case b.ifType != "branch":
		return nil, invalidParam("The network interface %s is not a branch interface.", branchID)
	case b.trunk != nil:
		return nil, invalidParam("The branch interface %s is already associated with %s.", branchID, b.trunk.trunk.id)
	case b.subnet.vpcID != t.subnet.vpcID:
		return nil, invalidParam("The branch interface %s and the trunk interface %s are not in the same VPC.", branchID, trunkID)
	}
	var count int
	for _, a := range st.trunks {
		if a.trunk == t {
			count++
			if a.vlan == vlan {
				return nil, invalidParam("VLAN id %d is already in use on the trunk interface %s.", vlan, trunkID)
			}
		}
	}
	if limit := t.inst.lim.BranchENIs; count >= limit {
		return nil, invalidParam("The trunk interface %s has reached the maximum number of branch interfaces (%d) for instance type %s.", trunkID, limit, t.inst.typ)
	}
	st.seq++
	a := &trunkAssoc{id: st.newID("trunk-assoc"), trunk: t, branch: b, vlan: vlan, seq: st.seq}
	st.trunks[a.id] = a
	b.trunk = a
	return a, nil
}

// disassociateTrunk ends an association.
func (st *state) disassociateTrunk(id string) *Error {
	if id == "" {
		return missingParam("AssociationId")
	}
	a, ok := st.trunks[id]
	if !ok {
		return errCode("InvalidAssociationID.NotFound", 400, "The association ID '%s' does not exist", truncate(id, 64))
	}
	st.dropTrunkAssoc(a)
	return nil
}

func (st *state) dropTrunkAssoc(a *trunkAssoc) {
	delete(st.trunks, a.id)
	a.branch.trunk = nil
}

// trunkGone ends every association of n, as a branch or as a trunk: a
// deleted branch leaves its trunk, and a trunk that leaves its instance
// (detach, termination) or is deleted takes its branches' associations with
// it; the branch ENIs themselves stay until someone deletes them.
func (st *state) trunkGone(n *eni) {
	if n.trunk != nil {
		st.dropTrunkAssoc(n.trunk)
	}
	if n.ifType != "trunk" {
		return
	}
	for _, a := range st.trunks {
		if a.trunk == n {
			st.dropTrunkAssoc(a)
		}
	}
}

// sortedTrunks lists associations in creation order.
func (st *state) sortedTrunks() []*trunkAssoc {
	out := make([]*trunkAssoc, 0, len(st.trunks))
	for _, a := range st.trunks {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}
