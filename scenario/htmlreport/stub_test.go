package htmlreport

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/scenario"
)

// stubLab is an unprivileged scenario.Lab with c5.large-like pools: pods
// are ready at once with latencies of 150 ms × their number, the pool keeps
// one ENI (9 IPs) spare, every pod added costs an AssignPrivateIpAddresses
// call, and a fault throttles two of those.
type stubLab struct {
	clk *clock.Scaled

	mu       sync.Mutex
	pods     map[string]int
	order    []string
	byAction map[string]scenario.ActionCounts
}

func newStubLab() *stubLab {
	return &stubLab{clk: clock.NewScaled(0.001, time.Unix(0, 0)), pods: map[string]int{}, byAction: map[string]scenario.ActionCounts{
		"DescribeInstances": {Calls: 2}, "CreateNetworkInterface": {Calls: 2}, "AttachNetworkInterface": {Calls: 2},
	}}
}

func (l *stubLab) Clock() clock.Clock { return l.clk }

func (l *stubLab) AddNode(ctx context.Context, spec scenario.NodeSpec) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.order = append(l.order, spec.Name)
	l.pods[spec.Name] = 0
	return nil
}

func (l *stubLab) count(action string, calls, errs, thr int) {
	c := l.byAction[action]
	c.Calls, c.Errors, c.Throttled = c.Calls+calls, c.Errors+errs, c.Throttled+thr
	l.byAction[action] = c
}

func (l *stubLab) AddPods(ctx context.Context, node string, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pods[node] += n
	l.count("AssignPrivateIpAddresses", n, 0, 0)
	return nil
}

func (l *stubLab) DeletePods(ctx context.Context, node string, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pods[node] -= n
	l.count("UnassignPrivateIpAddresses", 1, 0, 0)
	return nil
}

func (l *stubLab) AddFault(f scenario.Fault) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count("AssignPrivateIpAddresses", 2, 2, 2)
	return "rule-1", nil
}

func (l *stubLab) Snapshot() scenario.Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s scenario.Snapshot
	for i, name := range l.order {
		n := l.pods[name]
		enis := n/9 + 1
		if n > 0 {
			enis++
		}
		s.Nodes = append(s.Nodes, scenario.NodeState{Name: name, InstanceID: fmt.Sprintf("i-%04d", i+1), InstanceType: "c5.large",
			MaxPods: 29, ENIs: enis, TotalIPs: enis * 9, AssignedIPs: n, WarmIPs: enis*9 - n, ReadyPods: n, IPAMD: scenario.IPAMDRunning})
		for p := 1; p <= n; p++ {
			d := time.Duration(p) * 150 * time.Millisecond
			s.ReadyLatencies = append(s.ReadyLatencies, d)
			s.Pods = append(s.Pods, scenario.PodState{Name: fmt.Sprintf("%s/pod-%d", name, p), Node: name, Phase: "Ready",
				IP: fmt.Sprintf("10.0.1.%d", 10*i+p), ENI: "eni-1", Device: 1, Subnet: "subnet-a", ReadyLatency: d})
		}
	}
	s.Subnets = []scenario.SubnetState{{ID: "subnet-a", CIDR: "10.0.1.0/24", Free: 200}}
	s.EC2 = scenario.EC2Counts{Calls: map[string]int{}, Errors: map[string]int{"RequestLimitExceeded": 2}, Throttled: 2,
		ByAction: map[string]scenario.ActionCounts{}}
	for a, c := range l.byAction {
		s.EC2.ByAction[a] = c
		s.EC2.Calls[a] = c.Calls
	}
	return s
}

func (l *stubLab) RestartIPAMD(context.Context, string, map[string]string) error { return nil }
func (l *stubLab) Ping(context.Context, string, string) error                    { return nil }
func (l *stubLab) BreakRule(context.Context, string) error                       { return nil }
func (l *stubLab) FixRule(context.Context, string) error                         { return nil }
func (l *stubLab) Checkpoint(context.Context, string, string) error              { return nil }
func (l *stubLab) Close() error                                                  { return nil }

const stubScenario = `
name: stub-run
description: |
  Two stub nodes <fill> & drain their pools.
timeScale: 0.001
vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]
nodes:
  - {name: node, count: 2, instanceType: c5.large, subnet: subnet-a}
steps:
  - {pods: {node: node-1, add: 5}}
  - {sleep: 20s}
  - {fault: {kind: throttle, operations: [AssignPrivateIpAddresses], duration: 30s}}
  - {pods: {node: node-2, add: 12}}
  - {sleep: 20s}
  - {pods: {node: node-1, delete: 3}}
  - {expect: {node: node-1, readyPods: 2}}
  - {sleep: 10s}
`

// stubRun runs stubScenario on the stub lab.
func stubRun() (*scenario.Scenario, *scenario.Report, error) {
	sc, err := scenario.Parse("stub.yaml", []byte(stubScenario))
	if err != nil {
		return nil, nil, err
	}
	lab := newStubLab()
	rep, err := scenario.Run(context.Background(), sc, scenario.Options{
		NewLab: func(context.Context, *scenario.Scenario, scenario.LabOptions) (scenario.Lab, error) { return lab, nil },
		Poll:   time.Millisecond,
	})
	return sc, rep, err
}
