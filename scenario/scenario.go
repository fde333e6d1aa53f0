// Package scenario reads, checks and runs enilab scenario files: a written-down
// situation (instance types, subnets, CNI settings, a pod workload, EC2
// faults) plus the figures that must hold, so that a behaviour of the VPC CNI
// seen once can be kept as a regression test. The file format and the report
// are the CLI contract of DESIGN §6; the README is the user's reference.
//
// The package does not know how a lab is built: Run drives anything that
// implements Lab (package scenario/nodelab builds the real one from network
// namespaces, fakeec2 and ipamd), which keeps parsing, expectations, the
// timeline and the report testable without root.
package scenario

import (
	"net/netip"
	"time"
)

// DefaultWithin is how long an expect waits (lab time) when it names no
// `within`.
const DefaultWithin = 60 * time.Second

// Scenario is one parsed and validated scenario file.
type Scenario struct {
	// File is the path the scenario was read from (for messages).
	File string
	Name string
	// Description is the file's `description:`, printed above the timeline.
	Description string
	Seed        int64
	TimeScale   float64
	VPC         VPC
	EC2         EC2
	IPAMDEnv    map[string]string
	// Datapath is every node's datapath unless its `nodes` entry says
	// otherwise: DatapathKernel ("" too) or DatapathNone (fleet nodes).
	Datapath string
	// ENIConfigs select pod subnets under custom networking.
	ENIConfigs []ENIConfig
	// CNI is the lab's plugin choice (`cni:`).
	CNI CNI
	// SecurityGroups and SecurityGroupPolicies are security groups for
	// pods (sgp.go).
	SecurityGroups        []SecurityGroup
	SecurityGroupPolicies []SecurityGroupPolicy
	// Hosts are the VPC's machines that are not nodes (sgp.go).
	Hosts []Host
	// Nodes is the expanded node list: a group with count N becomes
	// <name>-1 … <name>-N.
	Nodes []NodeSpec
	// Groups are the `nodes` entries with a count, by name: the node
	// groups `nodes` steps scale.
	Groups map[string]NodeSpec
	Steps  []Step
	// Matrix is the file's `matrix:` (matrix.go): `enilab compare` runs
	// one variant per combination of its values.
	Matrix []MatrixAxis
	// Warnings are settings the VPC CNI accepts but ignores or replaces
	// (aws-node starts, differently from what the file asks); the
	// scenario still runs.
	Warnings Problems
}

// VPC is the network the lab models.
type VPC struct {
	CIDR           netip.Prefix
	SecondaryCIDRs []netip.Prefix
	// IPv6: an Amazon-provided /56 and a /64 per subnet, routed by the
	// fabric (EKS IPv6 clusters; ipamd.env then sets ENABLE_IPv6).
	IPv6         bool
	Subnets      []Subnet
	Reservations []Reservation
}

// Subnet is one subnet of the VPC.
type Subnet struct {
	ID   string
	CIDR netip.Prefix
	AZ   string
	Tags map[string]string
	// Public: instances launched here get a public address
	// (MapPublicIpOnLaunch) and 0.0.0.0/0 goes to the internet gateway.
	Public bool
	// NATGateway: 0.0.0.0/0 goes to a NAT gateway of this subnet's own,
	// placed in a public subnet.
	NATGateway bool
}

// Reservation is a subnet CIDR reservation: "prefix" ranges feed prefix
// delegation first, "explicit" ranges are never handed out automatically.
type Reservation struct {
	Subnet string
	CIDR   netip.Prefix
	Type   string
}

// EC2 holds the fake EC2's behaviour knobs.
type EC2 struct {
	// Throttle is "aws", "none" or "custom" (then Buckets holds the
	// per-action buckets; unlisted actions keep AWS defaults).
	Throttle    string
	Buckets     map[string]Bucket
	Latency     map[string]LatencyRange
	IMDSLag     time.Duration
	DescribeLag time.Duration
}

// Bucket is one action's token bucket.
type Bucket struct{ Capacity, Refill int }

// LatencyRange is a per-action latency, fixed when Min == Max.
type LatencyRange struct{ Min, Max time.Duration }

// String renders the range the way scenario files write it.
func (l LatencyRange) String() string {
	if l.Min == l.Max {
		return l.Min.String()
	}
	return l.Min.String() + "-" + l.Max.String()
}

// ENIConfig mirrors the ENIConfig custom resource of custom networking.
type ENIConfig struct {
	Name           string
	Subnet         string
	SecurityGroups []string
}

// NodeSpec is one node of the lab after count expansion.
type NodeSpec struct {
	Name         string
	InstanceType string
	Subnet       string
	// MaxPods 0 means computed (DESIGN §3).
	MaxPods int
	// Labels are the node's own labels; the zone label is added by the
	// lab from the subnet's AZ.
	Labels map[string]string
	// Group is the `nodes` entry the node belongs to (its name); IPAMDEnv
	// that group's own ipamd environment, merged over the file's.
	Group    string
	IPAMDEnv map[string]string
	// Datapath is the entry's `datapath:`; "" = the file's.
	Datapath string
	// CNIPlugin is the group's `cni: {plugin: …}`; "" = the lab's.
	CNIPlugin string
}

// CNI is the scenario's `cni:` section.
type CNI struct {
	// Plugin is enilab (also ""), upstream or a path to an aws-cni binary.
	Plugin string
}

// Step kinds. The first six are DESIGN §6; breakRule and fixRule are enilab
// extensions for the asymmetric-routing scenario, checkpoint for the
// checkpoint crash loop.
const (
	KindPods       = "pods"
	KindExpect     = "expect"
	KindFault      = "fault"
	KindRestart    = "restart"
	KindPing       = "ping"
	KindSleep      = "sleep"
	KindBreakRule  = "breakRule"
	KindFixRule    = "fixRule"
	KindCheckpoint = "checkpoint"
	KindCurl       = "curl"
	KindDeploy     = "deploy"
	KindDelete     = "delete"
	KindNodes      = "nodes"
	KindIPAMD      = "ipamd"
)

// Kinds lists every step kind, in documentation order.
var Kinds = []string{KindPods, KindExpect, KindFault, KindRestart, KindPing, KindSleep, KindBreakRule, KindFixRule, KindCheckpoint, KindCurl, KindDeploy, KindDelete, KindNodes, KindIPAMD}

// Step is one entry of `steps`; exactly one of the kind fields is set.
type Step struct {
	// Index is the position in `steps` (0-based, as in steps[i]).
	Index int
	// Line is where the step starts in the file.
	Line int
	Kind string

	Pods    *PodsStep
	Expect  *Expect
	Fault   *Fault
	Restart *RestartStep
	Ping    *PingStep
	Sleep   time.Duration
	// Rule is the pod of a breakRule or fixRule step.
	Rule *RuleStep
	// Checkpoint changes a node's ipamd checkpoint file.
	Checkpoint *CheckpointStep
	// Curl opens a TCP connection to the internet host.
	Curl *CurlStep
	// Deploy and Delete are the workload steps (workloads.go).
	Deploy *DeployStep
	Delete *DeleteStep
	// Nodes scales a node group (nodegroups.go).
	Nodes *NodesStep
	// IPAMD rolls a changed aws-node environment out (rollout.go).
	IPAMD *IPAMDStep
}

// PodsStep adds or deletes pods on a node.
type PodsStep struct {
	Node   string
	Add    int
	Delete int
}

// RestartStep kills and restarts a node's ipamd; Env, when set, is merged
// over the node's ipamd environment first (a changed DaemonSet).
type RestartStep struct {
	Node string
	Env  map[string]string
	// Down keeps ipamd stopped this long (lab time) before it starts
	// again; 0 restarts it at once.
	Down time.Duration
}

// PingStep sends pings between two pods, or from a pod to the internet
// host (To is Internet).
type PingStep struct {
	From, To string
	// ExpectOK is true for `expect: ok` (the default), false for `fail`.
	ExpectOK bool
	// Within retries until the outcome matches, 0 = one attempt.
	Within time.Duration
}

// CheckpointStep changes a node's ipamd checkpoint (upstream's
// /var/run/aws-node/ipam.json); ipamd reads it at its next start.
type CheckpointStep struct {
	Node string
	// Action is one of CheckpointActions.
	Action string
}

// Checkpoint actions: corrupt and wrongVersion make ipamd's next start-up
// fail (aws-node crash-loops); remove is the documented fix (ipamd then
// forgets the running pods); rebuild rewrites the file from the node's
// running pods (ipamd starts and knows them).
const (
	CheckpointCorrupt      = "corrupt"
	CheckpointWrongVersion = "wrongVersion"
	CheckpointRemove       = "remove"
	CheckpointRebuild      = "rebuild"
)

// CheckpointActions lists the checkpoint step's actions.
var CheckpointActions = []string{CheckpointCorrupt, CheckpointWrongVersion, CheckpointRemove, CheckpointRebuild}

// RuleStep names the pod whose from-IP rule (datapath.FromPodRulePriority)
// is deleted or restored.
type RuleStep struct{ Pod string }

// Fault is an EC2 fault rule added when its step runs.
type Fault struct {
	Name       string
	Kind       string
	Operations []string
	Percentage int
	After      int
	// Delay postpones the fault's window from the step's lab time.
	Delay    time.Duration
	Duration time.Duration
	Count    int
}

// Expect is a set of figures that must all hold within a lab-time limit.
// Unset keys are nil.
type Expect struct {
	Node   string
	Within time.Duration
	// Figures holds the per-node keys that were set, by name (enis,
	// totalIPs, …), in the order of NodeKeys.
	Figures    map[string]int
	SubnetFree map[string]int
	EC2Errors  map[string]int
	// EgressSource, when set, is the address the internet host must have
	// seen on the last connection from a pod or node.
	EgressSource *EgressSource
	// Pod is a pod's expected state (workloads.go), nil when unset.
	Pod *PodExpect
}

// NodeKeys are the per-node expect keys, in the order they are shown.
var NodeKeys = []string{"enis", "totalIPs", "assignedIPs", "warmIPs", "prefixes", "readyPods", "pendingPods", "rejectedPods", "maxPods", "ipamdRestarts", "ipv6Prefixes", "branchENIs"}
