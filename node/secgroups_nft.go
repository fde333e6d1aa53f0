package node

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// SGTable is the VPC namespace's nftables table of security groups, as
// `ip netns exec <lab>-vpc nft list ruleset` shows it.
const SGTable = "enilab-sg"

// writeSGTable replaces the VPC namespace's security group table with
// plan, in one netlink batch. The forward chain accepts replies (conntrack
// established/related: security groups are stateful), then sends traffic
// from each ENI's addresses through its egress chain and traffic to them
// through its ingress chain; a chain returns on the first rule that allows
// the packet and drops it at its end.
func writeSGTable(vpcPath string, plan []sgENI) error {
	if err := replaceTableAt(vpcPath, SGTable, nftables.TableFamilyIPv4, func(c *nftables.Conn, t *nftables.Table) {
		sgRules(c, t, plan)
	}); err != nil {
		return fmt.Errorf("node: security group table: %w", err)
	}
	return nil
}

// sgRules fills the security group table t for plan.
func sgRules(c *nftables.Conn, t *nftables.Table, plan []sgENI) {
	accept := nftables.ChainPolicyAccept
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: concat(ctReply(), verdict(expr.VerdictAccept))})
	for _, dir := range []bool{true, false} { // egress first, then ingress
		for _, e := range plan {
			name, rules := "in-"+e.id, e.in
			if dir {
				name, rules = "out-"+e.id, e.out
			}
			ch := c.AddChain(&nftables.Chain{Name: name, Table: t})
			for _, m := range rules {
				for _, peer := range m.peers {
					c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: concat(prefixIs(!dir, peer), protoIs(m), verdict(expr.VerdictReturn))})
				}
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: verdict(expr.VerdictDrop)})
			for _, a := range e.addrs {
				c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: concat(prefixIs(dir, a), []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: name}})})
			}
		}
	}
}

// deleteSGTable removes the table (enforcement off).
func deleteSGTable(vpcPath string) error {
	if err := replaceTableAt(vpcPath, SGTable, nftables.TableFamilyIPv4, nil); err != nil {
		return fmt.Errorf("node: security group table: %w", err)
	}
	return nil
}

// ctReply matches packets of a connection already allowed.
func ctReply() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// prefixIs matches an IPv4 source (src) or destination inside p.
func prefixIs(src bool, p netip.Prefix) []expr.Any {
	off := uint32(16)
	if src {
		off = 12
	}
	p = p.Masked()
	if p.Bits() == 32 {
		return addrIs(src, p.Addr())
	}
	mask := make([]byte, 4)
	binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
	if p.Bits() == 0 {
		mask = make([]byte, 4)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()},
	}
}

// protoIs matches a rule's protocol and ports (tcp/udp destination port
// range, icmp type).
func protoIs(m sgMatch) []expr.Any {
	if m.proto < 0 {
		return nil
	}
	out := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(m.proto)}},
	}
	switch {
	case m.from < 0:
	case m.proto == 6 || m.proto == 17:
		out = append(out,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: binaryutil.BigEndian.PutUint16(uint16(m.from)), ToData: binaryutil.BigEndian.PutUint16(uint16(m.to))})
	case m.proto == 1:
		out = append(out,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(m.from)}})
	}
	return out
}
