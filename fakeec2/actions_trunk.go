package fakeec2

import (
	"slices"
	"sync"
	"time"
)

// Wire handlers for trunk interface associations (state in trunk.go).

func (s *Server) associateTrunkInterface(p params, x *xw, now time.Time) *Error {
	branch, e := p.required("BranchInterfaceId")
	if e != nil {
		return e
	}
	trunk, e := p.required("TrunkInterfaceId")
	if e != nil {
		return e
	}
	if p.get("GreKey") != "" {
		return invalidParam("GRE is not supported by this EC2; give VlanId.")
	}
	vlan, set, e := p.integer("VlanId", 1, 4094)
	if e != nil {
		return e
	}
	if !set {
		return missingParam("VlanId")
	}
	a, e := s.st.associateTrunk(branch, trunk, vlan)
	if e != nil {
		return e
	}
	s.writeTrunkAssoc(x, a, "interfaceAssociation")
	if t := p.get("ClientToken"); t != "" {
		x.el("clientToken", t)
	}
	return nil
}

func (s *Server) disassociateTrunkInterface(p params, x *xw, now time.Time) *Error {
	if e := s.st.disassociateTrunk(p.get("AssociationId")); e != nil {
		return e
	}
	x.ret()
	if t := p.get("ClientToken"); t != "" {
		x.el("clientToken", t)
	}
	return nil
}

func (s *Server) describeTrunkInterfaceAssociations(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters(trunkFields().names()...)
	if e != nil {
		return e
	}
	ids := p.list("AssociationId")
	for _, id := range ids {
		if _, ok := s.st.trunks[id]; !ok {
			return errCode("InvalidAssociationID.NotFound", 400, "The association ID '%s' does not exist", truncate(id, 64))
		}
	}
	maxN, after, e := p.paging("trunk", 5, 255, len(ids) > 0)
	if e != nil {
		return e
	}
	var as []*trunkAssoc
	for _, a := range s.st.sortedTrunks() {
		if (len(ids) == 0 || slices.Contains(ids, a.id)) && trunkFields().match(a, nil, fs) {
			as = append(as, a)
		}
	}
	as, next := pageOf(as, maxN, after)
	x.open("interfaceAssociationSet")
	for _, a := range as {
		s.writeTrunkAssoc(x, a, "item")
	}
	x.close("interfaceAssociationSet")
	x.nextToken("trunk", next)
	return nil
}

func (s *Server) writeTrunkAssoc(x *xw, a *trunkAssoc, tag string) {
	x.open(tag)
	x.el("associationId", a.id)
	x.el("branchInterfaceId", a.branch.id)
	x.el("trunkInterfaceId", a.trunk.id)
	x.el("interfaceProtocol", "VLAN")
	x.elInt("vlanId", a.vlan)
	x.raw("<tagSet/>")
	x.close(tag)
}

var trunkFields = sync.OnceValue(func() fields[*trunkAssoc] {
	return fields[*trunkAssoc]{
		"trunk-interface-association.branch-interface-id": func(a *trunkAssoc) []string { return one(a.branch.id) },
		"trunk-interface-association.trunk-interface-id":  func(a *trunkAssoc) []string { return one(a.trunk.id) },
		"interface-protocol":                              constant[*trunkAssoc]("VLAN"),
	}.documented("DescribeTrunkInterfaceAssociations")
})
