package scenario

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A node gets a point only when one of its figures moves; EC2 requests land
// in the lab second of the look that saw them.
func TestSeriesRecorderPointsAtChangesAndEC2PerSecond(t *testing.T) {
	rec := newSeriesRecorder()
	n := NodeState{Name: "node-1", ENIs: 1, TotalIPs: 9, WarmIPs: 9}
	ec2 := func(calls, errs, thr int) EC2Counts {
		return EC2Counts{ByAction: map[string]ActionCounts{"AssignPrivateIpAddresses": {Calls: calls, Errors: errs, Throttled: thr}}}
	}
	rec.look(0, Snapshot{Nodes: []NodeState{n}, EC2: ec2(2, 0, 0)})
	rec.look(400*time.Millisecond, Snapshot{Nodes: []NodeState{n}, EC2: ec2(3, 0, 0)})
	n2 := n
	n2.AssignedIPs, n2.WarmIPs, n2.PendingPods = 1, 8, 2
	rec.look(1500*time.Millisecond, Snapshot{Nodes: []NodeState{n2, {Name: "node-2", ENIs: 1}}, EC2: ec2(7, 3, 2)})
	rec.look(2500*time.Millisecond, Snapshot{Nodes: []NodeState{n2, {Name: "node-2", ENIs: 1}}, EC2: ec2(7, 3, 2)})

	s := rec.series()
	require.Len(t, s.Nodes, 2)
	assert.Equal(t, "node-1", s.Nodes[0].Node)
	assert.Equal(t, []NodePoint{
		{LabMs: 0, ENIs: 1, TotalIPs: 9, WarmIPs: 9},
		{LabMs: 1500, ENIs: 1, TotalIPs: 9, AssignedIPs: 1, WarmIPs: 8, PendingPods: 2},
	}, s.Nodes[0].Points)
	assert.Equal(t, []NodePoint{{LabMs: 1500, ENIs: 1}}, s.Nodes[1].Points)
	assert.Equal(t, []EC2Second{
		{Action: "AssignPrivateIpAddresses", Second: 0, Calls: 3},
		{Action: "AssignPrivateIpAddresses", Second: 1, Calls: 4, Errors: 3, Throttles: 2},
	}, s.EC2)
}

// ec2Lab is the fake lab with per-action EC2 counters: every pod added
// costs one AssignPrivateIpAddresses call, every fault one throttle.
type ec2Lab struct {
	*fakeLab
	mu       sync.Mutex
	byAction map[string]ActionCounts
}

func (l *ec2Lab) AddPods(ctx context.Context, node string, n int) error {
	l.mu.Lock()
	c := l.byAction["AssignPrivateIpAddresses"]
	c.Calls += n
	l.byAction["AssignPrivateIpAddresses"] = c
	l.mu.Unlock()
	return l.fakeLab.AddPods(ctx, node, n)
}

func (l *ec2Lab) AddFault(f Fault) (string, error) {
	l.mu.Lock()
	l.byAction["AttachNetworkInterface"] = ActionCounts{Calls: 3, Errors: 3, Throttled: 3}
	l.mu.Unlock()
	return l.fakeLab.AddFault(f)
}

func (l *ec2Lab) Snapshot() Snapshot {
	s := l.fakeLab.Snapshot()
	l.mu.Lock()
	defer l.mu.Unlock()
	s.EC2.ByAction = map[string]ActionCounts{}
	for k, v := range l.byAction {
		s.EC2.ByAction[k] = v
	}
	return s
}

func runEC2Lab(t *testing.T) *Report {
	t.Helper()
	lab := &ec2Lab{fakeLab: newFakeLab(), byAction: map[string]ActionCounts{}}
	rep, out, err := runFake(t, runnable, lab.fakeLab, func(o *Options) {
		o.NewLab = func(context.Context, *Scenario, LabOptions) (Lab, error) { return lab, nil }
	})
	require.NoError(t, err, out)
	return rep
}

// The report's series follows the run: node-1's pool as its pod arrives,
// node-2's as its two pods do, and every EC2 call and throttle counted once.
func TestRunRecordsSeries(t *testing.T) {
	rep := runEC2Lab(t)
	require.Len(t, rep.Series.Nodes, 2)
	n1 := rep.Series.Nodes[0]
	assert.Equal(t, "node-1", n1.Node)
	require.GreaterOrEqual(t, len(n1.Points), 2)
	first := n1.Points[0]
	first.LabMs = 0
	assert.Equal(t, NodePoint{ENIs: 1, TotalIPs: 9, WarmIPs: 9}, first, "the first look, before any pod")
	last := n1.Points[len(n1.Points)-1]
	last.LabMs = 0
	assert.Equal(t, NodePoint{ENIs: 2, TotalIPs: 18, AssignedIPs: 1, WarmIPs: 17, ReadyPods: 1}, last)
	for _, ns := range rep.Series.Nodes {
		for i := 1; i < len(ns.Points); i++ {
			a, b := ns.Points[i-1], ns.Points[i]
			assert.LessOrEqual(t, a.LabMs, b.LabMs, "%s: points in lab order", ns.Node)
			a.LabMs = b.LabMs
			assert.NotEqual(t, a, b, "%s: a point only at a change", ns.Node)
		}
	}
	sum := map[string]ActionCounts{}
	for _, e := range rep.Series.EC2 {
		c := sum[e.Action]
		c.Calls, c.Errors, c.Throttled = c.Calls+e.Calls, c.Errors+e.Errors, c.Throttled+e.Throttles
		sum[e.Action] = c
	}
	assert.Equal(t, map[string]ActionCounts{
		"AssignPrivateIpAddresses": {Calls: 3},
		"AttachNetworkInterface":   {Calls: 3, Errors: 3, Throttled: 3},
	}, sum)
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	return rows
}

// --csv DIR: one file per series, a header row, then the series' rows.
func TestWriteCSV(t *testing.T) {
	rep := runEC2Lab(t)
	dir := filepath.Join(t.TempDir(), "csv")
	require.NoError(t, rep.WriteCSV(dir))

	nodes := readCSV(t, filepath.Join(dir, "nodes.csv"))
	assert.Equal(t, []string{"node", "labMs", "enis", "totalIPs", "assignedIPs", "warmIPs", "prefixes", "readyPods", "pendingPods", "rejectedPods"}, nodes[0])
	assert.Len(t, nodes, 1+len(rep.Series.Nodes[0].Points)+len(rep.Series.Nodes[1].Points))
	assert.Equal(t, "node-1", nodes[1][0])
	assert.Equal(t, []string{"1", "9", "0", "9", "0", "0", "0", "0"}, nodes[1][2:], "node-1 before its pod")

	ec2 := readCSV(t, filepath.Join(dir, "ec2.csv"))
	assert.Equal(t, []string{"action", "second", "calls", "errors", "throttles"}, ec2[0])
	require.Len(t, ec2, 1+len(rep.Series.EC2))
	assert.Equal(t, "AssignPrivateIpAddresses", ec2[1][0])

	pods := readCSV(t, filepath.Join(dir, "pods.csv"))
	assert.Equal(t, []string{"pod", "node", "phase", "ip", "eni", "device", "subnet", "readyLatencyMs", "message"}, pods[0])
	assert.Len(t, pods, 1+len(rep.Pods.Items))
}

// A bad directory is a clear error, not a panic.
func TestWriteCSVBadDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	err := (&Report{}).WriteCSV(filepath.Join(file, "csv"))
	assert.ErrorContains(t, err, "not a directory")
}

// The report JSON's series: nodes with their points, EC2 rows; empty lists,
// not nulls, when nothing was recorded.
func TestSeriesJSONShape(t *testing.T) {
	rep := runEC2Lab(t)
	var buf bytes.Buffer
	require.NoError(t, rep.WriteJSON(&buf))
	var doc struct {
		Series struct {
			Nodes []struct {
				Node   string           `json:"node"`
				Points []map[string]any `json:"points"`
			} `json:"nodes"`
			EC2 []map[string]any `json:"ec2"`
		} `json:"series"`
	}
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))
	require.NotEmpty(t, doc.Series.Nodes)
	assert.Equal(t, []string{"assignedIPs", "enis", "labMs", "pendingPods", "prefixes", "readyPods", "rejectedPods", "totalIPs", "warmIPs"},
		slices.Sorted(maps.Keys(doc.Series.Nodes[0].Points[0])))
	require.NotEmpty(t, doc.Series.EC2)
	assert.Equal(t, []string{"action", "calls", "errors", "second", "throttles"}, slices.Sorted(maps.Keys(doc.Series.EC2[0])))

	buf.Reset()
	require.NoError(t, (&Report{Scenario: "x"}).WriteJSON(&buf))
	assert.Contains(t, buf.String(), `"series": {
    "nodes": [],
    "ec2": []
  }`)
}
