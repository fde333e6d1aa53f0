package scenario

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Series is the run's figures over time, for plots and spreadsheets: every
// node's pool and pods at each change, and the EC2 requests per lab second.
// The pods' ready latencies are in Report.Pods.Items.
type Series struct {
	Nodes []NodeSeries `json:"nodes"`
	// EC2 holds one row per action and lab second in which that action was
	// called, sorted by action then second.
	EC2 []EC2Second `json:"ec2"`
}

// NodeSeries is one node's figures, a point at every change, oldest first.
type NodeSeries struct {
	Node   string      `json:"node"`
	Points []NodePoint `json:"points"`
}

// NodePoint is a node's figures from lab time LabMs (milliseconds since the
// lab started) until the next point.
type NodePoint struct {
	LabMs        int64 `json:"labMs"`
	ENIs         int   `json:"enis"`
	TotalIPs     int   `json:"totalIPs"`
	AssignedIPs  int   `json:"assignedIPs"`
	WarmIPs      int   `json:"warmIPs"`
	Prefixes     int   `json:"prefixes"`
	ReadyPods    int   `json:"readyPods"`
	PendingPods  int   `json:"pendingPods"`
	RejectedPods int   `json:"rejectedPods"`
}

// EC2Second is one action's requests answered in one lab second (Second is
// whole seconds since the lab started). Errors counts every error answer,
// throttles included; Throttles counts the RequestLimitExceeded ones.
type EC2Second struct {
	Action    string `json:"action"`
	Second    int64  `json:"second"`
	Calls     int    `json:"calls"`
	Errors    int    `json:"errors"`
	Throttles int    `json:"throttles"`
}

// seriesRecorder builds a Series from the monitor's looks. EC2 counters are
// cumulative; each look adds what changed since the one before to the lab
// second the look happened in (so a request lands at most one poll late).
type seriesRecorder struct {
	mu     sync.Mutex
	order  []string
	nodes  map[string][]NodePoint
	ec2    map[string]ActionCounts // counts at the last look
	second map[ec2Key]*EC2Second
}

type ec2Key struct {
	action string
	second int64
}

func newSeriesRecorder() *seriesRecorder {
	return &seriesRecorder{nodes: map[string][]NodePoint{}, ec2: map[string]ActionCounts{}, second: map[ec2Key]*EC2Second{}}
}

// look records the snapshot taken at lab time at.
func (s *seriesRecorder) look(at time.Duration, snap Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range snap.Nodes {
		s.node(at, n)
	}
	for action, now := range snap.EC2.ByAction {
		before := s.ec2[action]
		d := ActionCounts{Calls: now.Calls - before.Calls, Errors: now.Errors - before.Errors, Throttled: now.Throttled - before.Throttled}
		if d == (ActionCounts{}) {
			continue
		}
		s.ec2[action] = now
		k := ec2Key{action, int64(at / time.Second)}
		row := s.second[k]
		if row == nil {
			row = &EC2Second{Action: action, Second: k.second}
			s.second[k] = row
		}
		row.Calls += d.Calls
		row.Errors += d.Errors
		row.Throttles += d.Throttled
	}
}

// node adds a point when the node's figures differ from its last one.
func (s *seriesRecorder) node(at time.Duration, n NodeState) {
	p := NodePoint{LabMs: at.Milliseconds(), ENIs: n.ENIs, TotalIPs: n.TotalIPs, AssignedIPs: n.AssignedIPs,
		WarmIPs: n.WarmIPs, Prefixes: n.Prefixes, ReadyPods: n.ReadyPods, PendingPods: n.PendingPods, RejectedPods: n.RejectedPods}
	pts, seen := s.nodes[n.Name]
	if !seen {
		s.order = append(s.order, n.Name)
	}
	if len(pts) > 0 {
		same := pts[len(pts)-1]
		same.LabMs = p.LabMs
		if same == p {
			return
		}
	}
	s.nodes[n.Name] = append(pts, p)
}

// series returns what was recorded, nodes in the order they first appeared.
func (s *seriesRecorder) series() Series {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Series{Nodes: make([]NodeSeries, 0, len(s.order)), EC2: make([]EC2Second, 0, len(s.second))}
	for _, name := range s.order {
		out.Nodes = append(out.Nodes, NodeSeries{Node: name, Points: slices.Clone(s.nodes[name])})
	}
	for _, row := range s.second {
		out.EC2 = append(out.EC2, *row)
	}
	slices.SortFunc(out.EC2, func(a, b EC2Second) int {
		return cmp.Or(cmp.Compare(a.Action, b.Action), cmp.Compare(a.Second, b.Second))
	})
	return out
}
