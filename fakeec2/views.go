package fakeec2

import (
	"maps"
	"net/netip"
	"sort"
	"time"
)

// VPCSpec describes a VPC to create through the Go API. ID is optional (a
// deterministic "vpc-…" id is chosen when empty).
type VPCSpec struct {
	ID             string
	CIDR           string
	SecondaryCIDRs []string
}

// SubnetSpec describes a subnet to create through the Go API. ID is optional
// and may be a readable name such as "subnet-a"; AZ defaults to the region's
// "a" zone.
type SubnetSpec struct {
	ID    string
	VPCID string
	CIDR  string
	AZ    string
	Tags  map[string]string
}

// InstanceSpec describes an instance to launch through the Go API.
// SecurityGroups defaults to the VPC's default group.
type InstanceSpec struct {
	Type           string
	SubnetID       string
	SecurityGroups []string
}

// VPC is a copy of a VPC's state.
type VPC struct {
	ID        string
	CIDRs     []netip.Prefix // primary first
	IPv6CIDRs []netip.Prefix // Amazon-provided /56 blocks
}

// Subnet is a copy of a subnet's state. Free counts the addresses EC2 could
// still hand out automatically: size − 5 reserved − used − reserved ranges.
type Subnet struct {
	ID    string
	VPCID string
	AZ    string
	CIDR  netip.Prefix
	Tags  map[string]string
	Free  int
	// IPv6CIDR is the subnet's /64 (invalid without one).
	IPv6CIDR netip.Prefix
}

// ENI is a copy of a network interface's state (true state, without
// DescribeLag or IMDSLag applied).
type ENI struct {
	ID                  string
	MAC                 string
	SubnetID            string
	VPCID               string
	AZ                  string
	InstanceID          string // empty when not attached
	AttachmentID        string
	Description         string
	InterfaceType       string // "interface", "trunk", "branch" or "efa"
	Status              string // "available" or "in-use"
	DeviceIndex         int
	NetworkCard         int
	PrimaryIP           netip.Addr
	SecondaryIPs        []netip.Addr
	Prefixes            []netip.Prefix
	IPv6Addrs           []netip.Addr   // IPv6 addresses
	IPv6Prefixes        []netip.Prefix // IPv6 /80 prefixes
	Tags                map[string]string
	SecurityGroups      []string
	DeleteOnTermination bool
	SubnetCIDR          netip.Prefix
	// SourceDestCheck is EC2's source/destination check (default true;
	// ModifyNetworkInterfaceAttribute turns it off for NAT instances).
	SourceDestCheck bool
}

// Instance is a copy of a running instance's state; ENIs are ordered by
// network card then device index.
type Instance struct {
	ID        string
	Type      string
	AZ        string
	SubnetID  string
	VPCID     string
	PrimaryIP netip.Addr
	ENIs      []ENI
}

// EventKind says what changed.
type EventKind int

// Event kinds, in the vocabulary of what a node or the VPC fabric must react to.
const (
	ENIAttached EventKind = iota + 1
	ENIDetached
	AddressesChanged // assign/unassign of IPs or prefixes
	ENIDeleted
	InstanceTerminated
	AttributeChanged // ModifyNetworkInterfaceAttribute (description, groups, SourceDestCheck, DeleteOnTermination)
)

// String names the kind as the constant does, for logs and test failures.
func (k EventKind) String() string {
	switch k {
	case ENIAttached:
		return "ENIAttached"
	case ENIDetached:
		return "ENIDetached"
	case AddressesChanged:
		return "AddressesChanged"
	case ENIDeleted:
		return "ENIDeleted"
	case InstanceTerminated:
		return "InstanceTerminated"
	case AttributeChanged:
		return "AttributeChanged"
	}
	return "EventKind(?)"
}

// Event is one committed change. ENI is a snapshot after the change (for
// ENIDetached it still names the instance it left in InstanceID of the
// event, while ENI.InstanceID is empty).
type Event struct {
	Kind       EventKind
	InstanceID string
	ENI        ENI
	At         time.Time
}

// Copies of the state model handed out through the Go API and events.

func (v *vpc) view() VPC {
	out := VPC{ID: v.id}
	for _, c := range v.cidrs {
		out.CIDRs = append(out.CIDRs, c.p)
	}
	for _, c := range v.ipv6 {
		out.IPv6CIDRs = append(out.IPv6CIDRs, c.p)
	}
	return out
}

func (sn *subnet) view() Subnet {
	out := Subnet{ID: sn.id, VPCID: sn.vpcID, AZ: sn.az, CIDR: sn.cidr, Tags: maps.Clone(sn.tags), Free: sn.free}
	if sn.v6 != nil {
		out.IPv6CIDR = sn.v6.assoc.p
	}
	return out
}

func (n *eni) view() ENI {
	e := ENI{
		ID: n.id, MAC: n.mac, SubnetID: n.subnet.id, VPCID: n.subnet.vpcID, AZ: n.subnet.az, InterfaceType: n.ifType,
		Description: n.desc, Status: "available", Tags: maps.Clone(n.tags),
		SecurityGroups: append([]string(nil), n.sgs...), SubnetCIDR: n.subnet.cidr,
		SourceDestCheck: !n.noSourceDestCheck,
	}
	if n.inst != nil {
		e.Status = "in-use"
		e.InstanceID = n.inst.id
		e.AttachmentID = n.attachID
		e.DeviceIndex = n.device
		e.NetworkCard = n.card
		e.DeleteOnTermination = n.dot
	}
	if len(n.ips) > 0 {
		e.PrimaryIP = n.ips[0].a
		for _, a := range n.ips[1:] {
			e.SecondaryIPs = append(e.SecondaryIPs, a.a)
		}
	}
	for _, p := range n.pfx {
		e.Prefixes = append(e.Prefixes, p.p)
	}
	for _, a := range n.ipv6 {
		e.IPv6Addrs = append(e.IPv6Addrs, a.a)
	}
	for _, p := range n.pfx6 {
		e.IPv6Prefixes = append(e.IPv6Prefixes, p.p)
	}
	return e
}

func (in *instance) view() Instance {
	out := Instance{ID: in.id, Type: in.typ, AZ: in.az, SubnetID: in.subnet.id, VPCID: in.subnet.vpcID, PrimaryIP: in.primaryIP}
	for _, n := range in.sortedENIs() {
		out.ENIs = append(out.ENIs, n.view())
	}
	return out
}

func (in *instance) sortedENIs() []*eni {
	out := append([]*eni(nil), in.enis...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].card != out[j].card {
			return out[i].card < out[j].card
		}
		return out[i].device < out[j].device
	})
	return out
}

// SecurityGroup is a copy of a security group and its rules.
type SecurityGroup struct {
	ID, Name, VPCID string
	Rules           []SecurityGroupRule
}

// SecurityGroupRule allows traffic to (Egress) or from one peer: a CIDR
// (IPv4 or IPv6) or the members of a group. Protocol is "-1" (all), "tcp",
// "udp", "icmp", "icmpv6" or a number; FromPort and ToPort are -1 for all.
type SecurityGroupRule struct {
	ID               string
	Egress           bool
	Protocol         string
	FromPort, ToPort int
	CIDR             netip.Prefix
	GroupID          string
}

func (g *secGroup) view() SecurityGroup {
	out := SecurityGroup{ID: g.id, Name: g.name, VPCID: g.vpcID}
	for _, r := range g.rules {
		out.Rules = append(out.Rules, SecurityGroupRule{ID: r.id, Egress: r.egress, Protocol: r.proto, FromPort: r.from, ToPort: r.to, CIDR: r.cidr, GroupID: r.group})
	}
	return out
}

// TrunkAssociation is a branch ENI's association with a trunk ENI.
type TrunkAssociation struct {
	ID                  string
	TrunkENI, BranchENI string
	VLANID              int
}
