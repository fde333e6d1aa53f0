package scenario

import (
	"encoding/json"
	"io"
	"slices"
	"time"
)

// Report is the JSON document `enilab run --report` writes (DESIGN §6).
type Report struct {
	// Version is the format's version (ReportVersion); 0 in a report
	// written before the field existed, which has version 1's format.
	Version int `json:"version"`
	// Shard is "i/n" for a run made with --shard; Shards lists the
	// shards a merged report combines.
	Shard    string         `json:"shard,omitempty"`
	Shards   []string       `json:"shards,omitempty"`
	Scenario string         `json:"scenario"`
	Passed   bool           `json:"passed"`
	Steps    []StepReport   `json:"steps"`
	Nodes    []NodeReport   `json:"nodes"`
	Subnets  []SubnetReport `json:"subnets"`
	EC2      EC2Report      `json:"ec2"`
	Pods     PodsReport     `json:"pods"`
	// Series is the figures over time (see Series).
	Series Series `json:"series"`
}

// StepReport is one step's outcome. Index is the position in `steps`
// (0-based, as in steps[i]); LabMs is the lab time, in milliseconds since the
// lab started, at which the step finished.
type StepReport struct {
	Index   int    `json:"index"`
	Kind    string `json:"kind"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
	LabMs   int64  `json:"labMs"`
}

// NodeReport is a node's final figures.
type NodeReport struct {
	Name         string `json:"name"`
	InstanceID   string `json:"instanceId"`
	InstanceType string `json:"instanceType"`
	MaxPods      int    `json:"maxPods"`
	ENIs         int    `json:"enis"`
	TotalIPs     int    `json:"totalIPs"`
	AssignedIPs  int    `json:"assignedIPs"`
	WarmIPs      int    `json:"warmIPs"`
	Prefixes     int    `json:"prefixes"`
	ReadyPods    int    `json:"readyPods"`
	PendingPods  int    `json:"pendingPods"`
	RejectedPods int    `json:"rejectedPods"`
	// IPAMD is the aws-node container's state ("Running",
	// "CrashLoopBackOff"), IPAMDRestarts its restart count since its pod
	// was created or last restarted by a restart step.
	IPAMD         string `json:"ipamd"`
	IPAMDRestarts int    `json:"ipamdRestarts"`
}

// SubnetReport is a subnet's final free address count.
type SubnetReport struct {
	ID   string `json:"id"`
	CIDR string `json:"cidr"`
	Free int    `json:"free"`
}

// EC2Report holds the EC2 request counters of the whole run.
type EC2Report struct {
	Calls          map[string]int `json:"calls"`
	Errors         map[string]int `json:"errors"`
	Throttled      int            `json:"throttled"`
	FaultsInjected int            `json:"faultsInjected"`
}

// PodsReport summarises pod start latency and lists every pod.
type PodsReport struct {
	ReadyLatencyMs Percentiles `json:"readyLatencyMs"`
	Items          []PodReport `json:"items"`
}

// PodReport is one pod at the end of the run: where its address is (IP,
// ENI, device, subnet; empty and -1 without one), its phase and why it is
// not running, and its ready latency in lab milliseconds (0 if not ready).
type PodReport struct {
	Name           string `json:"name"`
	Node           string `json:"node"`
	Phase          string `json:"phase"`
	IP             string `json:"ip"`
	ENI            string `json:"eni"`
	Device         int    `json:"device"`
	Subnet         string `json:"subnet"`
	ReadyLatencyMs int64  `json:"readyLatencyMs"`
	Message        string `json:"message,omitempty"`
}

// Percentiles of pod ready latency, in lab milliseconds (0 when no pod got
// ready).
type Percentiles struct {
	P50 int64 `json:"p50"`
	P90 int64 `json:"p90"`
	P99 int64 `json:"p99"`
	Max int64 `json:"max"`
}

// LatencyPercentiles computes nearest-rank percentiles.
func LatencyPercentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := slices.Sorted(slices.Values(ds))
	rank := func(p int) int64 {
		i := (p*len(s)+99)/100 - 1
		if i < 0 {
			i = 0
		}
		return s[i].Milliseconds()
	}
	return Percentiles{P50: rank(50), P90: rank(90), P99: rank(99), Max: s[len(s)-1].Milliseconds()}
}

// fillFinal puts a final snapshot into the report.
func (r *Report) fillFinal(s Snapshot) {
	r.Nodes = make([]NodeReport, 0, len(s.Nodes))
	for _, n := range s.Nodes {
		r.Nodes = append(r.Nodes, NodeReport{
			Name: n.Name, InstanceID: n.InstanceID, InstanceType: n.InstanceType, MaxPods: n.MaxPods,
			ENIs: n.ENIs, TotalIPs: n.TotalIPs, AssignedIPs: n.AssignedIPs, WarmIPs: n.WarmIPs, Prefixes: n.Prefixes,
			ReadyPods: n.ReadyPods, PendingPods: n.PendingPods, RejectedPods: n.RejectedPods,
			IPAMD: n.IPAMD, IPAMDRestarts: n.IPAMDRestarts,
		})
	}
	r.Subnets = make([]SubnetReport, 0, len(s.Subnets))
	for _, sub := range s.Subnets {
		r.Subnets = append(r.Subnets, SubnetReport{ID: sub.ID, CIDR: sub.CIDR, Free: sub.Free})
	}
	r.EC2 = EC2Report{Calls: nonNil(s.EC2.Calls), Errors: nonNil(s.EC2.Errors), Throttled: s.EC2.Throttled, FaultsInjected: s.EC2.FaultsInjected}
	r.Pods.ReadyLatencyMs = LatencyPercentiles(s.ReadyLatencies)
	r.Pods.Items = make([]PodReport, 0, len(s.Pods))
	for _, p := range s.Pods {
		r.Pods.Items = append(r.Pods.Items, PodReport{Name: p.Name, Node: p.Node, Phase: p.Phase, IP: p.IP, ENI: p.ENI,
			Device: p.Device, Subnet: p.Subnet, ReadyLatencyMs: p.ReadyLatency.Milliseconds(), Message: p.Message})
	}
}

func nonNil(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

// WriteJSON writes the report, indented, with a trailing newline.
func (r *Report) WriteJSON(w io.Writer) error {
	if r.Steps == nil {
		r.Steps = []StepReport{}
	}
	if r.Pods.Items == nil {
		r.Pods.Items = []PodReport{}
	}
	if r.Nodes == nil {
		r.Nodes = []NodeReport{}
	}
	if r.Subnets == nil {
		r.Subnets = []SubnetReport{}
	}
	r.EC2.Calls, r.EC2.Errors = nonNil(r.EC2.Calls), nonNil(r.EC2.Errors)
	if r.Series.Nodes == nil {
		r.Series.Nodes = []NodeSeries{}
	}
	if r.Series.EC2 == nil {
		r.Series.EC2 = []EC2Second{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
