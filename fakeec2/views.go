package fakeec2

import (
	"net/netip"
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
	ID    string
	CIDRs []netip.Prefix // primary first
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
	Status              string // "available" or "in-use"
	DeviceIndex         int
	NetworkCard         int
	PrimaryIP           netip.Addr
	SecondaryIPs        []netip.Addr
	Prefixes            []netip.Prefix
	Tags                map[string]string
	SecurityGroups      []string
	DeleteOnTermination bool
	SubnetCIDR          netip.Prefix
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
