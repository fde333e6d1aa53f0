package node

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The translations of the outside, as nftables tables inside the internet
// gateway and NAT gateway namespaces (never the root namespace). Written
// through netlink (github.com/google/nftables): `ip netns exec <ns> nft
// list ruleset` shows them.

// Table names, as `nft list ruleset` shows them.
const (
	IGWTable = "enilab-igw"
	NATTable = "enilab-natgw"
)

// igwTable replaces the internet gateway's table with EC2's 1:1 NAT for m
// (private → public): traffic from a mapped address leaves translated,
// traffic to a public address comes in translated back, and a private
// source without a mapping is dropped, as the internet gateway drops it on
// AWS. One netlink batch: the old table goes and the new one comes at once.
func (e *egress) igwTable(m map[netip.Addr]netip.Addr) error {
	if err := replaceTable(e.igw.fd, IGWTable, nftables.TableFamilyIPv4, func(c *nftables.Conn, t *nftables.Table) {
		igwRules(c, t, m)
	}); err != nil {
		return fmt.Errorf("node: internet gateway NAT table: %w", err)
	}
	return nil
}

// igwRules fills the internet gateway's table t for m.
func igwRules(c *nftables.Conn, t *nftables.Table, m map[netip.Addr]netip.Addr) {
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	drop := nftables.ChainPolicyDrop
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	privs := make([]netip.Addr, 0, len(m))
	for p := range m {
		privs = append(privs, p)
	}
	slices.SortFunc(privs, netip.Addr.Compare)
	for _, priv := range privs {
		pub := m[priv]
		c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: concat(ifIs(true, "inet"), addrIs(false, pub), natTo(expr.NATTypeDestNAT, priv))})
		c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: concat(ifIs(false, "inet"), addrIs(true, priv), natTo(expr.NATTypeSourceNAT, pub))})
		c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: concat(ifIs(true, "vpc"), addrIs(true, priv), verdict(expr.VerdictAccept))})
	}
	// Translated back on the way in (DNAT, or a reply un-SNATed by
	// conntrack): towards the VPC.
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: concat(ifIs(true, "inet"), ifIs(false, "vpc"), verdict(expr.VerdictAccept))})
}

// natTable is a NAT gateway's translation: everything it forwards leaves
// with its own private address (the internet gateway then maps that to
// its Elastic IP).
func natTable(o *outsideNS, own netip.Addr) error {
	err := replaceTable(o.fd, NATTable, nftables.TableFamilyIPv4, func(c *nftables.Conn, t *nftables.Table) {
		post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
		notOwn := []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: own.AsSlice()},
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: concat(ifIs(false, "eth0"), notOwn, natTo(expr.NATTypeSourceNAT, own))})
	})
	if err != nil {
		return fmt.Errorf("node: NAT gateway table: %w", err)
	}
	return nil
}

// replaceTable sends one netlink batch into the network namespace fd: the
// table name of family goes and, unless fill is nil, a new one filled by
// fill comes in its place at once.
func replaceTable(fd netns.NsHandle, name string, family nftables.TableFamily, fill func(*nftables.Conn, *nftables.Table)) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(fd)))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if old, err := c.ListTableOfFamily(name, family); err == nil {
		c.DelTable(old)
	}
	if fill != nil {
		fill(c, c.AddTable(&nftables.Table{Name: name, Family: family}))
	}
	return c.Flush()
}

// replaceTableAt is replaceTable in the namespace at path.
func replaceTableAt(path, name string, family nftables.TableFamily, fill func(*nftables.Conn, *nftables.Table)) error {
	fd, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", path, err)
	}
	defer fd.Close()
	return replaceTable(fd, name, family, fill)
}

func concat(parts ...[]expr.Any) []expr.Any { return slices.Concat(parts...) }

// ifIs matches the input (in) or output interface name.
func ifIs(in bool, name string) []expr.Any {
	key := expr.MetaKeyOIFNAME
	if in {
		key = expr.MetaKeyIIFNAME
	}
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b}}
}

// addrIs matches the IPv4 source (src) or destination address.
func addrIs(src bool, a netip.Addr) []expr.Any {
	off := uint32(16)
	if src {
		off = 12
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
	}
}

func natTo(t expr.NATType, a netip.Addr) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: a.AsSlice()},
		&expr.NAT{Type: t, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	}
}

func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }
