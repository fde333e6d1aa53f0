// Package nodelab builds the real lab of a scenario: fakeec2 behind the chaos
// layer (throttling, latency, faults, trace and replay) and one node per
// scenario node, each with its own network namespace, ipamd and CNI plugin.
// It is the bridge between package scenario, which knows nothing about
// namespaces, and packages node and fakeec2/chaos.
package nodelab

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/fakeec2/chaos"
	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
)

// scenarioLab is the scenario.Lab this package builds: a node.Lab with a
// chaos.Controller in front of its fakeec2.
type scenarioLab struct {
	lab        *node.Lab
	chaos      *chaos.Controller
	chaosClock clock.Clock
	chaosStart time.Time
	sc         *scenario.Scenario

	mu     sync.Mutex
	broken map[string]*netlink.Rule // pod → the rule breakRule removed
	// ready remembers every pod seen ready, so deleted pods still count in
	// the latency percentiles.
	ready map[string]time.Duration
	// dsEnv is what ipamd steps set on the aws-node DaemonSet (mu):
	// nodes that join later start with it.
	dsEnv map[string]string
}

var _ scenario.Lab = (*scenarioLab)(nil)

// New builds the lab of sc. It needs root, and the kernel features the
// scenario needs (KernelNeeds).
func New(ctx context.Context, sc *scenario.Scenario, opts scenario.LabOptions) (scenario.Lab, error) {
	if err := KernelNeeds(sc); err != nil {
		return nil, err
	}
	ccfg, err := ChaosConfig(sc)
	if err != nil {
		return nil, err
	}
	ccfg.Trace = opts.Trace
	if opts.Replay != nil {
		recs, err := chaos.LoadTrace(opts.Replay)
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		ccfg.Replay = recs
	}
	// The controller gets a clock running at the lab's rate; fault windows
	// and buckets only measure durations on it.
	cclk := clock.NewScaled(sc.TimeScale, time.Now())
	ccfg.Clock = cclk
	start := cclk.Now()
	ctl, err := chaos.New(ccfg)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if opts.Log != nil {
		logger = slog.New(slog.NewTextHandler(opts.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg := LabConfig(sc, opts.Prefix, ctl, logger)
	if cfg.PluginPath, err = PluginPath(sc.CNI.Plugin); err != nil {
		return nil, err
	}
	lab, err := node.NewLab(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &scenarioLab{lab: lab, chaos: ctl, chaosClock: cclk, chaosStart: start, sc: sc, broken: map[string]*netlink.Rule{}, ready: map[string]time.Duration{}}, nil
}

// Prefix names the lab's namespaces, links and temporary directories
// (what `enilab sweep` takes).
func (l *scenarioLab) Prefix() string { return l.lab.Prefix() }

// LogDir is where each node's ipamd.log and plugin.log are.
func (l *scenarioLab) LogDir() string { return l.lab.Dir() }

// Clock is the lab clock.
func (l *scenarioLab) Clock() clock.Clock { return l.lab.Clock() }

// AddNode starts one node and its ipamd.
func (l *scenarioLab) AddNode(ctx context.Context, spec scenario.NodeSpec) error {
	return l.AddNodes(ctx, []scenario.NodeSpec{spec})[0]
}

// AddNodes starts specs as one node group (node.Lab.AddNodes); errs[i] is
// specs[i]'s failure.
func (l *scenarioLab) AddNodes(ctx context.Context, specs []scenario.NodeSpec) []error {
	errs := make([]error, len(specs))
	var group []node.Spec
	var at []int // group[k] is specs[at[k]]
	for i, spec := range specs {
		s, err := l.nodeSpec(spec)
		if err != nil {
			errs[i] = err
			continue
		}
		group = append(group, s)
		at = append(at, i)
	}
	_, started := l.lab.AddNodes(ctx, group)
	for k, err := range started {
		errs[at[k]] = err
	}
	// Pending pods may fit on the new nodes; a failure to bind them is
	// each new node's.
	if err := l.lab.Schedule(ctx); err != nil {
		for k := range started {
			if started[k] == nil {
				errs[at[k]] = err
			}
		}
	}
	return errs
}

// nodeSpec is the lab's spec of a scenario node.
func (l *scenarioLab) nodeSpec(spec scenario.NodeSpec) (node.Spec, error) {
	plugin, err := PluginPath(spec.CNIPlugin)
	if err == nil && plugin == "" && spec.CNIPlugin != "" {
		// enilab's plugin on this group, whatever the lab's is
		plugin, err = node.OwnPlugin()
	}
	if err != nil {
		return node.Spec{}, fmt.Errorf("node %s: %w", spec.Name, err)
	}
	return node.Spec{Name: spec.Name, InstanceType: spec.InstanceType, Subnet: spec.Subnet, MaxPods: spec.MaxPods, Labels: spec.Labels, IPAMDEnv: l.nodeEnv(spec.IPAMDEnv), PluginPath: plugin, Datapath: spec.Datapath}, nil
}

func (l *scenarioLab) node(name string) (*node.Node, error) {
	n, ok := l.lab.Node(name)
	if !ok {
		return nil, fmt.Errorf("no node %q in the lab", name)
	}
	return n, nil
}

// AddPods creates n pods on the node; they go Pending and the node's runner
// retries their ADD.
func (l *scenarioLab) AddPods(ctx context.Context, nodeName string, n int) error {
	nd, err := l.node(nodeName)
	if err != nil {
		return err
	}
	return nd.AddPods(ctx, n)
}

// DeletePods deletes the n newest pods of the node.
func (l *scenarioLab) DeletePods(ctx context.Context, nodeName string, n int) error {
	nd, err := l.node(nodeName)
	if err != nil {
		return err
	}
	if err := nd.DeletePods(ctx, n); err != nil {
		return err
	}
	// Pending pods may fit in the room the deleted ones left.
	return l.lab.Schedule(ctx)
}

// RestartIPAMD kills and restarts the node's ipamd, with env merged over
// its environment first.
func (l *scenarioLab) RestartIPAMD(ctx context.Context, nodeName string, env map[string]string) error {
	nd, err := l.node(nodeName)
	if err != nil {
		return err
	}
	if len(env) > 0 {
		if err := nd.SetIPAMDEnv(env); err != nil {
			return err
		}
	}
	return nd.RestartIPAMD(ctx)
}

// Checkpoint changes the node's ipamd checkpoint file.
func (l *scenarioLab) Checkpoint(_ context.Context, nodeName, action string) error {
	nd, err := l.node(nodeName)
	if err != nil {
		return err
	}
	return nd.Checkpoint(action)
}

// fillIPAMD copies the aws-node container's state into a node's figures.
func fillIPAMD(ns *scenario.NodeState, st node.IPAMDStatus) {
	ns.IPAMD, ns.IPAMDRestarts, ns.IPAMDError = st.State, st.Restarts, st.LastError
	for _, e := range st.Events {
		ns.IPAMDEvents = append(ns.IPAMDEvents, scenario.NodeEvent{At: e.At, Exited: e.Exited, Warning: e.Warning, Detail: e.Detail, Message: e.Message})
	}
}

// Ping pings between two pods, or from a pod to the internet host.
func (l *scenarioLab) Ping(ctx context.Context, from, to string) error {
	if to == scenario.Internet {
		return l.lab.PingInternet(ctx, from)
	}
	return l.lab.Ping(ctx, from, to)
}

// AddFault starts a fault rule now; its window opens after the step's
// start delay.
func (l *scenarioLab) AddFault(f scenario.Fault) (string, error) {
	r := chaos.Rule{
		Name:       f.Name,
		Kind:       f.Kind,
		Operations: f.Operations,
		Percentage: f.Percentage,
		After:      f.After,
		Duration:   f.Duration,
		Count:      f.Count,
	}
	if f.Delay > 0 {
		r.Start = l.chaosClock.Now().Sub(l.chaosStart) + f.Delay
	}
	return l.chaos.AddRule(r)
}

// Snapshot reads every node, subnet and counter.
func (l *scenarioLab) Snapshot() scenario.Snapshot {
	var s scenario.Snapshot
	for _, nd := range l.lab.Nodes() {
		st := nd.Status()
		s.Nodes = append(s.Nodes, scenario.NodeState{
			Name: nd.Name(), InstanceID: nd.InstanceID(), InstanceType: nd.InstanceType(),
			MaxPods: st.MaxPods, ENIs: st.ENIs, TotalIPs: st.TotalIPs, AssignedIPs: st.AssignedIPs,
			WarmIPs: st.WarmIPs, Prefixes: st.Prefixes, IPv6Prefixes: st.IPv6Prefixes,
			ReadyPods: st.ReadyPods, PendingPods: st.PendingPods, RejectedPods: st.RejectedPods,
		})
		fillIPAMD(&s.Nodes[len(s.Nodes)-1], nd.IPAMDStatus())
		s.Nodes[len(s.Nodes)-1].BranchENIs = nd.BranchENIs()
		for _, p := range nd.Pods() {
			s.Pods = append(s.Pods, podState(nd.Name(), p))
			if p.Phase == node.PhaseReady {
				l.mu.Lock()
				l.ready[p.Name] = p.ReadyLatency
				l.mu.Unlock()
				continue
			}
			s.Waiting = append(s.Waiting, scenario.PodState{Name: p.Name, Phase: p.Phase, Message: p.Message})
		}
	}
	l.addUnscheduled(&s)
	l.mu.Lock()
	for _, d := range l.ready {
		s.ReadyLatencies = append(s.ReadyLatencies, d)
	}
	l.mu.Unlock()
	for _, sub := range l.sc.VPC.Subnets {
		if es, ok := l.lab.EC2().Subnet(sub.ID); ok {
			s.Subnets = append(s.Subnets, scenario.SubnetState{ID: sub.ID, CIDR: es.CIDR.String(), Free: es.Free})
		}
	}
	s.Egress = l.egress(s.Pods)
	c := l.chaos.Counters()
	s.EC2 = scenario.EC2Counts{Calls: c.Calls, Errors: c.Errors, Throttled: c.Throttled, FaultsInjected: c.FaultsInjected,
		ByAction: make(map[string]scenario.ActionCounts, len(c.ByAction))}
	for a, ac := range c.ByAction {
		s.EC2.ByAction[a] = scenario.ActionCounts{Calls: ac.Calls, Errors: ac.Errors, Throttled: ac.Throttled}
	}
	return s
}

// podState is a pod as the scenario runner reports it.
func podState(nodeName string, p node.PodStatus) scenario.PodState {
	ps := scenario.PodState{Name: p.Name, Node: nodeName, Phase: p.Phase, Message: p.Message,
		ENI: p.ENI, Device: p.Device, Subnet: p.Subnet}
	if p.IP.IsValid() {
		ps.IP = p.IP.String()
	}
	if p.Phase == node.PhaseReady {
		ps.ReadyLatency = p.ReadyLatency
	}
	return ps
}

// Close tears the whole lab down.
func (l *scenarioLab) Close() error { return l.lab.Close() }
