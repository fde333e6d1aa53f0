package scenario

import "time"

// Snapshot is the lab's figures at one moment.
type Snapshot struct {
	Nodes   []NodeState
	Subnets []SubnetState
	EC2     EC2Counts
	// ReadyLatencies holds, for every pod that became ready, the lab time
	// from creation to ready.
	ReadyLatencies []time.Duration
	// Waiting lists the pods that are not running (Pending or Rejected)
	// with the reason the kubelet-like runner last saw.
	Waiting []PodState
	// Pods is every pod, node by node, oldest first.
	Pods []PodState
	// Egress is, by pod or node name, what the lab knows of its traffic to
	// the internet (for egressSource expects); nil in a lab without one.
	Egress map[string]EgressState
}

// PodState is one pod: where its address is and how it is doing.
type PodState struct {
	Name    string
	Node    string
	Phase   string
	Message string
	IP      string // "" without an address
	ENI     string
	Device  int // -1 without an address
	Subnet  string
	// ReadyLatency is the lab time from creation to ready (0 if not).
	ReadyLatency time.Duration
}

// NodeState is one node's pool and pods.
type NodeState struct {
	Name, InstanceID, InstanceType                          string
	MaxPods, ENIs, TotalIPs, AssignedIPs, WarmIPs, Prefixes int
	ReadyPods, PendingPods, RejectedPods                    int
	// IPv6Prefixes counts the /80s ipamd hands pod addresses from (IPv6 mode).
	IPv6Prefixes int
	// IPAMD is the aws-node container's state (IPAMDRunning,
	// IPAMDCrashLoopBackOff; "" when the node runs none), IPAMDRestarts
	// its restart count and IPAMDError the error of its last exit.
	IPAMD         string
	IPAMDRestarts int
	IPAMDError    string
	// BranchENIs are the branch ENIs on the node's trunk ENI (security
	// groups for pods), leaked ones included.
	BranchENIs int
	// IPAMDEvents is its history (exits with their back-off, restarts),
	// oldest first; the timeline prints each once.
	IPAMDEvents []NodeEvent
}

// States of a node's aws-node container.
const (
	IPAMDRunning          = "Running"
	IPAMDCrashLoopBackOff = "CrashLoopBackOff"
)

// NodeEvent is one entry of a node's aws-node history.
type NodeEvent struct {
	At     time.Time // lab clock
	Exited bool
	// Warning is one of ipamd's own warnings or errors: a cause.
	Warning bool
	// Detail is one of ipamd's pool decisions, shown with Verbose only.
	Detail  bool
	Message string
}

// Figure returns the value of a per-node expect key.
func (n NodeState) Figure(key string) int {
	switch key {
	case "enis":
		return n.ENIs
	case "totalIPs":
		return n.TotalIPs
	case "assignedIPs":
		return n.AssignedIPs
	case "warmIPs":
		return n.WarmIPs
	case "prefixes":
		return n.Prefixes
	case "ipv6Prefixes":
		return n.IPv6Prefixes
	case "readyPods":
		return n.ReadyPods
	case "pendingPods":
		return n.PendingPods
	case "rejectedPods":
		return n.RejectedPods
	case "maxPods":
		return n.MaxPods
	case "ipamdRestarts":
		return n.IPAMDRestarts
	case "branchENIs":
		return n.BranchENIs
	}
	return 0
}

// SubnetState is one subnet's free address count.
type SubnetState struct {
	ID   string
	CIDR string
	Free int
}

// EC2Counts are the fake EC2's request counters.
type EC2Counts struct {
	Calls          map[string]int // by action
	Errors         map[string]int // by error code
	Throttled      int
	FaultsInjected int
	// ByAction holds, per action, its calls, error answers and throttles
	// (RequestLimitExceeded answers, counted among the errors too).
	ByAction map[string]ActionCounts
}

// ActionCounts are one EC2 action's counters since the lab started.
type ActionCounts struct {
	Calls, Errors, Throttled int
}

// TotalCalls sums Calls.
func (c EC2Counts) TotalCalls() int {
	t := 0
	for _, n := range c.Calls {
		t += n
	}
	return t
}

// TotalErrors sums Errors.
func (c EC2Counts) TotalErrors() int {
	t := 0
	for _, n := range c.Errors {
		t += n
	}
	return t
}

// Node returns the named node's state.
func (s Snapshot) Node(name string) (NodeState, bool) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeState{}, false
}

// Subnet returns the subnet's state.
func (s Snapshot) Subnet(id string) (SubnetState, bool) {
	for _, n := range s.Subnets {
		if n.ID == id {
			return n, true
		}
	}
	return SubnetState{}, false
}
