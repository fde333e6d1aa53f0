package scenario

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/clock"
)

// fakeLab models a c5.large-like secondary-IP pool crudely but statefully:
// pods get ready at once, the pool keeps one ENI (9 IPs) spare, and the
// subnet loses 10 addresses per ENI.
type fakeLab struct {
	clk *clock.Scaled

	mu      sync.Mutex
	nodes   []*fakeNode
	faults  []Fault
	pings   []string
	curls   map[string]string // from → the source the internet host saw
	broken  map[string]bool
	calls   []string
	closed  int
	errs    map[string]int
	failAdd bool
	// onStep, when set, runs inside AddPods (used to cancel a run).
	onAddPods func()
}

type fakeNode struct {
	spec NodeSpec
	pods int
	// corrupt marks a damaged checkpoint: the next restart crash-loops
	// (two exits, one restart) until a rebuild brings ipamd back.
	corrupt  bool
	ipamd    string
	restarts int
	events   []NodeEvent
}

func newFakeLab() *fakeLab {
	return &fakeLab{clk: clock.NewScaled(0.0005, time.Unix(0, 0)), broken: map[string]bool{}, errs: map[string]int{}}
}

func (f *fakeLab) factory(got *LabOptions) NewLabFunc {
	return func(ctx context.Context, sc *Scenario, opts LabOptions) (Lab, error) {
		if got != nil {
			*got = opts
		}
		return f, nil
	}
}

func (f *fakeLab) Clock() clock.Clock { return f.clk }

func (f *fakeLab) AddNode(ctx context.Context, spec NodeSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes = append(f.nodes, &fakeNode{spec: spec})
	f.calls = append(f.calls, "addNode "+spec.Name)
	return nil
}

func (f *fakeLab) find(name string) *fakeNode {
	for _, n := range f.nodes {
		if n.spec.Name == name {
			return n
		}
	}
	return nil
}

func (f *fakeLab) AddPods(ctx context.Context, node string, n int) error {
	if f.onAddPods != nil {
		f.onAddPods()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAdd {
		return errors.New("runner gone")
	}
	f.find(node).pods += n
	return nil
}

func (f *fakeLab) DeletePods(ctx context.Context, node string, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.find(node).pods -= n
	return nil
}

func (f *fakeLab) RestartIPAMD(ctx context.Context, node string, env map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "restart "+node)
	if n := f.find(node); n.corrupt {
		now := f.clk.Now()
		n.ipamd, n.restarts = IPAMDCrashLoopBackOff, 1
		n.events = append(n.events,
			NodeEvent{At: now, Exited: true, Message: "ipamd exited: failed ipam state recovery from backing store; restarting failed container=aws-node"},
			NodeEvent{At: now, Exited: true, Message: "ipamd exited: failed ipam state recovery from backing store; back-off 10s restarting failed container=aws-node (CrashLoopBackOff)"})
	}
	return nil
}

func (f *fakeLab) Checkpoint(ctx context.Context, node, action string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.find(node)
	n.corrupt = action == CheckpointCorrupt || action == CheckpointWrongVersion
	if !n.corrupt && n.ipamd == IPAMDCrashLoopBackOff {
		n.ipamd = IPAMDRunning
		n.restarts++
		n.events = append(n.events, NodeEvent{At: f.clk.Now(), Message: fmt.Sprintf("ipamd running again (restart %d)", n.restarts)})
	}
	return nil
}

func (f *fakeLab) Ping(ctx context.Context, from, to string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings = append(f.pings, from+">"+to)
	if f.broken[to] {
		return errors.New("100% packet loss")
	}
	return nil
}

// Curl answers, saying the source was the node's public address, unless
// the pod's rule is broken (then nothing answers).
func (f *fakeLab) Curl(ctx context.Context, from, to string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken[from] {
		return "", fmt.Errorf("%w: connection timed out", ErrNoAnswer)
	}
	if f.curls == nil {
		f.curls = map[string]string{}
	}
	f.curls[from] = "198.51.100.2"
	return "198.51.100.2", nil
}

func (f *fakeLab) BreakRule(ctx context.Context, pod string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.broken[pod] = true
	return nil
}

func (f *fakeLab) FixRule(ctx context.Context, pod string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.broken, pod)
	return nil
}

func (f *fakeLab) AddFault(ft Fault) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, ft)
	f.errs["RequestLimitExceeded"] += 3
	return fmt.Sprintf("rule-%d", len(f.faults)), nil
}

func (f *fakeLab) Snapshot() Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s Snapshot
	used := 0
	for i, n := range f.nodes {
		enis := n.pods/9 + 1
		if n.pods > 0 {
			enis++
		}
		used += enis * 10
		s.Nodes = append(s.Nodes, NodeState{
			Name: n.spec.Name, InstanceID: fmt.Sprintf("i-%04d", i+1), InstanceType: n.spec.InstanceType, MaxPods: 29,
			ENIs: enis, TotalIPs: enis * 9, AssignedIPs: n.pods, WarmIPs: enis*9 - n.pods, ReadyPods: n.pods,
			IPAMD: cmp.Or(n.ipamd, IPAMDRunning), IPAMDRestarts: n.restarts, IPAMDEvents: slices.Clone(n.events),
		})
		if n.ipamd == IPAMDCrashLoopBackOff {
			s.Nodes[len(s.Nodes)-1].IPAMDError = "failed ipam state recovery from backing store"
		}
		for p := 0; p < n.pods; p++ {
			s.ReadyLatencies = append(s.ReadyLatencies, time.Duration(p+1)*100*time.Millisecond)
		}
	}
	s.Subnets = []SubnetState{{ID: "subnet-a", CIDR: "10.0.1.0/24", Free: 251 - used}}
	errs := map[string]int{}
	for k, v := range f.errs {
		errs[k] = v
	}
	s.EC2 = EC2Counts{Calls: map[string]int{"AssignPrivateIpAddresses": 4, "AttachNetworkInterface": 2}, Errors: errs, Throttled: errs["RequestLimitExceeded"]}
	if f.curls != nil {
		s.Egress = map[string]EgressState{}
		for from, seen := range f.curls {
			s.Egress[from] = EgressState{Seen: seen, NodePublicIP: "198.51.100.2", NodePrimaryIP: "10.0.1.4", PodIP: "10.0.1.9", NATGatewayIPs: []string{"198.51.100.3"}}
		}
	}
	return s
}

func (f *fakeLab) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return nil
}

const runnable = `
name: fake-run
timeScale: 0.0005
vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]
nodes:
  - {name: node, count: 2, instanceType: c5.large, subnet: subnet-a}
steps:
  - {expect: {node: node-1, enis: 1, totalIPs: 9}}
  - {pods: {node: node-1, add: 1}}
  - {expect: {node: node-1, enis: 2, totalIPs: 18, assignedIPs: 1, warmIPs: 17, readyPods: 1, maxPods: 29}}
  - {expect: {subnetFree: {subnet-a: 221}}}
  - {fault: {kind: throttle, operations: [AssignPrivateIpAddresses], duration: 30s}}
  - {expect: {ec2Errors: {RequestLimitExceeded: 2}}}
  - {restart: {node: node-2}}
  - {pods: {node: node-2, add: 2}}
  - {breakRule: {pod: node-2/pod-2}}
  - {ping: {from: node-1/pod-1, to: node-2/pod-2, expect: fail}}
  - {fixRule: {pod: node-2/pod-2}}
  - {ping: {from: node-1/pod-1, to: node-2/pod-2}}
  - {sleep: 2s}
`

func runFake(t *testing.T, src string, lab *fakeLab, mod func(*Options)) (*Report, string, error) {
	t.Helper()
	sc := parseOK(t, src)
	var out bytes.Buffer
	opts := Options{Out: &out, NewLab: lab.factory(nil), Poll: time.Millisecond}
	if mod != nil {
		mod(&opts)
	}
	rep, err := Run(context.Background(), sc, opts)
	require.NotNil(t, rep, "a report is always returned")
	return rep, out.String(), err
}

func TestRunPassesAndReports(t *testing.T) {
	lab := newFakeLab()
	rep, out, err := runFake(t, runnable, lab, nil)
	require.NoError(t, err, out)
	if testing.Verbose() {
		t.Log("\n" + out)
	}
	assert.True(t, rep.Passed)
	assert.Equal(t, 1, lab.closed, "the lab is closed once")
	assert.Equal(t, []string{"addNode node-1", "addNode node-2", "restart node-2"}, lab.calls)
	require.Len(t, lab.faults, 1)
	assert.Equal(t, []string{"AssignPrivateIpAddresses"}, lab.faults[0].Operations)
	assert.Equal(t, []string{"node-1/pod-1>node-2/pod-2", "node-1/pod-1>node-2/pod-2"}, lab.pings)

	require.Len(t, rep.Steps, 13)
	for i, s := range rep.Steps {
		assert.Equal(t, i, s.Index)
		assert.True(t, s.OK, "step %d: %s", i, s.Message)
	}
	assert.Equal(t, "ping", rep.Steps[9].Kind)
	assert.Contains(t, rep.Steps[9].Message, "no reply, as expected")
	assert.GreaterOrEqual(t, rep.Steps[12].LabMs, int64(2000), "labMs is lab time, after a 2s sleep")
	require.Len(t, rep.Nodes, 2)
	assert.Equal(t, NodeReport{Name: "node-2", InstanceID: "i-0002", InstanceType: "c5.large", MaxPods: 29, ENIs: 2, TotalIPs: 18, AssignedIPs: 2, WarmIPs: 16, ReadyPods: 2, IPAMD: "Running"}, rep.Nodes[1])
	assert.Equal(t, []SubnetReport{{ID: "subnet-a", CIDR: "10.0.1.0/24", Free: 211}}, rep.Subnets)
	assert.Equal(t, Percentiles{P50: 100, P90: 200, P99: 200, Max: 200}, rep.Pods.ReadyLatencyMs)

	for _, want := range []string{"▶ step 1/13", "✓ step 13/13", "node-1    ENIs 1→2", "PASSED", "NODE", "SUBNET", "EC2: 6 calls, 3 errors, 3 throttled"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "\x1b[", "no ANSI colours unless asked")
}

func TestFailedExpectNamesStepNodeKeyWantAndGot(t *testing.T) {
	src := strings.Replace(runnable, "enis: 2, totalIPs: 18, assignedIPs: 1", "enis: 3, totalIPs: 18, assignedIPs: 1", 1)
	src = strings.Replace(src, "{expect: {node: node-1, enis: 3,", "{expect: {within: 5s, node: node-1, enis: 3,", 1)
	lab := newFakeLab()
	rep, out, err := runFake(t, src, lab, nil)
	require.Error(t, err)
	var failed *Failed
	require.True(t, errors.As(err, &failed), "%v", err)
	require.Len(t, failed.Failures, 1, "the later steps still ran and passed")
	assert.Contains(t, err.Error(), "steps[2] expect (line 12) on node-1 did not hold within 5s: enis: want 3, got 2")
	assert.False(t, rep.Passed)
	assert.False(t, rep.Steps[2].OK)
	assert.Contains(t, rep.Steps[2].Message, "enis: want 3, got 2")
	assert.True(t, rep.Steps[3].OK)
	assert.Contains(t, out, "✗ step 3/13 FAILED")
	assert.Contains(t, out, "FAILED 1 of 13 steps failed")
	assert.Equal(t, 1, lab.closed)
}

func TestWrongPingOutcomeFails(t *testing.T) {
	src := strings.Replace(runnable, "  - {fixRule: {pod: node-2/pod-2}}\n", "", 1)
	_, _, err := runFake(t, src, newFakeLab(), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ping node-1/pod-1 → node-2/pod-2: want replies, got no reply: 100% packet loss")
}

func TestLabActionErrorFailsStep(t *testing.T) {
	lab := newFakeLab()
	lab.failAdd = true
	_, _, err := runFake(t, runnable, lab, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "adding 1 pods to node-1: runner gone")
}

func TestReplaySkipsFaultSteps(t *testing.T) {
	lab := newFakeLab()
	lab.errs["RequestLimitExceeded"] = 5 // as if the replayed trace had them
	rep, _, err := runFake(t, runnable, lab, func(o *Options) { o.Lab.Replay = strings.NewReader("") })
	require.NoError(t, err)
	assert.Empty(t, lab.faults, "with --replay the trace's faults are injected, not the steps'")
	assert.Contains(t, rep.Steps[4].Message, "--replay")
}

func TestInterruptTearsDown(t *testing.T) {
	lab := newFakeLab()
	ctx, cancel := context.WithCancel(context.Background())
	lab.onAddPods = cancel
	sc := parseOK(t, runnable)
	var out bytes.Buffer
	rep, err := Run(ctx, sc, Options{Out: &out, NewLab: lab.factory(nil), Poll: time.Millisecond})
	require.ErrorIs(t, err, ErrInterrupted)
	assert.Equal(t, 1, lab.closed)
	assert.False(t, rep.Passed)
	assert.Contains(t, out.String(), "interrupted: tearing the lab down")
	assert.Contains(t, out.String(), "lab torn down cleanly")
	assert.Less(t, len(rep.Steps), 13, "no step runs after the interrupt")
}

func TestLabStartFailure(t *testing.T) {
	sc := parseOK(t, runnable)
	var out bytes.Buffer
	rep, err := Run(context.Background(), sc, Options{Out: &out, NewLab: func(context.Context, *Scenario, LabOptions) (Lab, error) {
		return nil, errors.New("needs root")
	}})
	require.ErrorContains(t, err, "starting the lab: needs root")
	assert.False(t, rep.Passed)
}

func TestReportJSONShape(t *testing.T) {
	lab := newFakeLab()
	rep, _, err := runFake(t, runnable, lab, nil)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, rep.WriteJSON(&buf))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))
	keys := func(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
	assert.Equal(t, []string{"ec2", "nodes", "passed", "pods", "scenario", "series", "steps", "subnets", "version"}, keys(doc))
	assert.Equal(t, float64(ReportVersion), doc["version"])
	assert.Equal(t, "fake-run", doc["scenario"])
	assert.Equal(t, true, doc["passed"])
	step := doc["steps"].([]any)[0].(map[string]any)
	assert.Equal(t, []string{"index", "kind", "labMs", "message", "ok"}, keys(step))
	nd := doc["nodes"].([]any)[0].(map[string]any)
	assert.Equal(t, []string{"assignedIPs", "enis", "instanceId", "instanceType", "ipamd", "ipamdRestarts", "maxPods", "name", "pendingPods", "prefixes", "readyPods", "rejectedPods", "totalIPs", "warmIPs"}, keys(nd))
	sub := doc["subnets"].([]any)[0].(map[string]any)
	assert.Equal(t, []string{"cidr", "free", "id"}, keys(sub))
	ec2 := doc["ec2"].(map[string]any)
	assert.Equal(t, []string{"calls", "errors", "faultsInjected", "throttled"}, keys(ec2))
	assert.Equal(t, map[string]any{"AssignPrivateIpAddresses": 4.0, "AttachNetworkInterface": 2.0}, ec2["calls"])
	pods := doc["pods"].(map[string]any)
	assert.Equal(t, []string{"max", "p50", "p90", "p99"}, keys(pods["readyLatencyMs"].(map[string]any)))

	// An empty report still has every key, with empty lists, not nulls.
	buf.Reset()
	require.NoError(t, (&Report{Scenario: "x"}).WriteJSON(&buf))
	assert.Contains(t, buf.String(), `"steps": []`)
	assert.Contains(t, buf.String(), `"calls": {}`)
}

func TestExpectCheck(t *testing.T) {
	snap := Snapshot{
		Nodes:   []NodeState{{Name: "node-1", ENIs: 2, TotalIPs: 18, AssignedIPs: 1, WarmIPs: 17, MaxPods: 29}},
		Subnets: []SubnetState{{ID: "subnet-a", Free: 200}},
		EC2:     EC2Counts{Errors: map[string]int{"RequestLimitExceeded": 2}},
	}
	e := &Expect{Node: "node-1", Figures: map[string]int{"enis": 2, "warmIPs": 17}, SubnetFree: map[string]int{"subnet-a": 200}, EC2Errors: map[string]int{"RequestLimitExceeded": 2}}
	assert.Empty(t, e.Check(snap))

	e = &Expect{Node: "node-1", Figures: map[string]int{"enis": 3, "maxPods": 29}, SubnetFree: map[string]int{"subnet-b": 5}, EC2Errors: map[string]int{"RequestLimitExceeded": 3, "InternalError": 1}}
	got := e.Check(snap)
	var msgs []string
	for _, m := range got {
		msgs = append(msgs, m.String())
	}
	assert.Equal(t, []string{
		"enis: want 3, got 2",
		"subnetFree[subnet-b]: want 5, not found in the lab",
		"ec2Errors[InternalError]: want at least 1, got 0",
		"ec2Errors[RequestLimitExceeded]: want at least 3, got 2",
	}, msgs)

	missing := (&Expect{Node: "node-9", Figures: map[string]int{"enis": 0}}).Check(snap)
	require.Len(t, missing, 1, "a node that is not there never satisfies an expect, even of 0")
	assert.True(t, missing[0].Missing)
}

func TestLatencyPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, Percentiles{P50: 50, P90: 90, P99: 99, Max: 100}, LatencyPercentiles(ds))
	assert.Equal(t, Percentiles{P50: 7, P90: 7, P99: 7, Max: 7}, LatencyPercentiles([]time.Duration{7 * time.Millisecond}))
	assert.Equal(t, Percentiles{}, LatencyPercentiles(nil))
}

// A restart that crash-loops is not a failed step: the step says ipamd did
// not start, the timeline prints each exit with kubelet's back-off and the
// restart that came up, expects pin the restart count, and the report and
// summary show the aws-node container's state and restarts.
func TestCrashLoopShownInTimelineAndReport(t *testing.T) {
	src := `
name: fake-crash
timeScale: 0.0005
vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]
nodes:
  - {name: node-1, instanceType: c5.large, subnet: subnet-a}
steps:
  - {checkpoint: {node: node-1, action: corrupt}}
  - {restart: {node: node-1}}
  - {expect: {node: node-1, ipamdRestarts: 1}}
  - {checkpoint: {node: node-1, action: rebuild}}
  - {expect: {node: node-1, ipamdRestarts: 2}}
`
	lab := newFakeLab()
	rep, out, err := runFake(t, src, lab, nil)
	require.NoError(t, err, out)
	assert.Contains(t, out, "truncated the ipamd checkpoint of node-1")
	assert.Contains(t, out, "ipamd on node-1 did not start (CrashLoopBackOff): failed ipam state recovery from backing store")
	assert.Contains(t, out, "node-1   ipamd exited: failed ipam state recovery from backing store; back-off 10s restarting failed container=aws-node (CrashLoopBackOff)")
	assert.Contains(t, out, "node-1   ipamd running again (restart 2)")
	assert.Equal(t, 1, strings.Count(out, "back-off 10s"), "each event printed once")
	assert.Regexp(t, `IPAMD\s+RESTARTS\n.*Running\s+2\n`, out)
	require.Len(t, rep.Nodes, 1)
	assert.Equal(t, "Running", rep.Nodes[0].IPAMD)
	assert.Equal(t, 2, rep.Nodes[0].IPAMDRestarts)
}
