// Package nodelab builds the real lab of a scenario: fakeec2 behind the chaos
// layer (throttling, latency, faults, trace and replay) and one node per
// scenario node, each with its own network namespace, ipamd and CNI plugin.
// It is the bridge between package scenario, which knows nothing about
// namespaces, and packages node and fakeec2/chaos.
package nodelab

import (
	"context"
	"errors"
	"fmt"
	"github.com/enilab/enilab/ipamd/config"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/fakeec2/chaos"
	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
)

// FromIPRulePriority is the priority of the rule `from <pod ip> lookup
// <ENI table>` the plugin adds for pods on secondary ENIs.
const FromIPRulePriority = 1536

// Lab is a scenario.Lab made of a node.Lab and a chaos.Controller.
type Lab struct {
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
}

var _ scenario.Lab = (*Lab)(nil)

// New builds the lab of sc. It needs root.
func New(ctx context.Context, sc *scenario.Scenario, opts scenario.LabOptions) (scenario.Lab, error) {
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
	lab, err := node.NewLab(ctx, LabConfig(sc, opts.Prefix, ctl, logger))
	if err != nil {
		return nil, err
	}
	return &Lab{lab: lab, chaos: ctl, chaosClock: cclk, chaosStart: start, sc: sc, broken: map[string]*netlink.Rule{}, ready: map[string]time.Duration{}}, nil
}

// ChaosConfig turns the scenario's ec2 section into the chaos layer's
// configuration (without clock, trace or replay).
func ChaosConfig(sc *scenario.Scenario) (chaos.Config, error) {
	cfg := chaos.Config{Seed: sc.Seed, Latency: map[string]chaos.Latency{}}
	switch sc.EC2.Throttle {
	case "none":
		cfg.Throttle = chaos.ThrottleNone
	case "custom":
		b := map[string]chaos.Bucket{}
		for a, v := range sc.EC2.Buckets {
			b[a] = chaos.Bucket{Capacity: v.Capacity, Refill: v.Refill}
		}
		cfg.Throttle = chaos.ThrottleCustom(b)
	default:
		cfg.Throttle = chaos.ThrottleAWS
	}
	for a, l := range sc.EC2.Latency {
		cfg.Latency[a] = chaos.Latency{Min: l.Min, Max: l.Max}
	}
	if err := cfg.Validate(); err != nil {
		return chaos.Config{}, fmt.Errorf("ec2: %w", err)
	}
	return cfg, nil
}

// LabConfig turns the scenario into the node package's lab configuration.
func LabConfig(sc *scenario.Scenario, prefix string, ic *chaos.Controller, logger *slog.Logger) node.LabConfig {
	cfg := node.LabConfig{
		Prefix:      prefix,
		Seed:        sc.Seed,
		TimeScale:   sc.TimeScale,
		VPC:         node.VPCSpec{CIDR: sc.VPC.CIDR.String()},
		IMDSLag:     sc.EC2.IMDSLag,
		DescribeLag: sc.EC2.DescribeLag,
		IPAMDEnv:    map[string]string{},
		Logger:      logger,
	}
	if ic != nil {
		cfg.Interceptor = ic
	}
	for _, c := range sc.VPC.SecondaryCIDRs {
		cfg.VPC.SecondaryCIDRs = append(cfg.VPC.SecondaryCIDRs, c.String())
	}
	for _, s := range sc.VPC.Subnets {
		cfg.Subnets = append(cfg.Subnets, node.SubnetSpec{ID: s.ID, CIDR: s.CIDR.String(), AZ: s.AZ, Tags: s.Tags})
	}
	for _, r := range sc.VPC.Reservations {
		cfg.Reservations = append(cfg.Reservations, node.ReservationSpec{Subnet: r.Subnet, CIDR: r.CIDR.String(), Type: r.Type})
	}
	for k, v := range sc.IPAMDEnv {
		cfg.IPAMDEnv[k] = v
	}
	for _, c := range sc.ENIConfigs {
		cfg.ENIConfigs = append(cfg.ENIConfigs, config.ENIConfig{Name: c.Name, Subnet: c.Subnet, SecurityGroups: c.SecurityGroups})
	}
	return cfg
}

// Prefix names the lab's namespaces, links and temporary directories
// (what `enilab sweep` takes).
func (l *Lab) Prefix() string { return l.lab.Prefix() }

// Clock is the lab clock.
func (l *Lab) Clock() clock.Clock { return l.lab.Clock() }

// AddNode starts one node and its ipamd.
func (l *Lab) AddNode(ctx context.Context, spec scenario.NodeSpec) error {
	_, err := l.lab.AddNode(ctx, node.NodeSpec{Name: spec.Name, InstanceType: spec.InstanceType, Subnet: spec.Subnet, MaxPods: spec.MaxPods, Labels: spec.Labels})
	return err
}

func (l *Lab) node(name string) (*node.Node, error) {
	n, ok := l.lab.Node(name)
	if !ok {
		return nil, fmt.Errorf("no node %q in the lab", name)
	}
	return n, nil
}

// AddPods creates n pods on the node; they go Pending and the node's runner
// retries their ADD.
func (l *Lab) AddPods(ctx context.Context, nodeName string, n int) error {
	nd, err := l.node(nodeName)
	if err != nil {
		return err
	}
	return nd.AddPods(ctx, n)
}

// DeletePods deletes the n newest pods of the node.
func (l *Lab) DeletePods(ctx context.Context, nodeName string, n int) error {
	nd, err := l.node(nodeName)
	if err != nil {
		return err
	}
	return nd.DeletePods(ctx, n)
}

// RestartIPAMD kills and restarts the node's ipamd.
func (l *Lab) RestartIPAMD(ctx context.Context, nodeName string) error {
	nd, err := l.node(nodeName)
	if err != nil {
		return err
	}
	return nd.RestartIPAMD(ctx)
}

// Ping pings between two pods.
func (l *Lab) Ping(ctx context.Context, from, to string) error { return l.lab.Ping(ctx, from, to) }

// podAddr finds a pod's node and address.
func (l *Lab) podAddr(pod string) (*node.Node, netip.Addr, error) {
	nodeName, _, err := datapath.ParsePodName(pod)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	nd, err := l.node(nodeName)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	for _, p := range nd.Pods() {
		if p.Name == pod {
			if !p.IP.IsValid() {
				return nil, netip.Addr{}, fmt.Errorf("pod %s has no address (it is %s)", pod, p.Phase)
			}
			return nd, p.IP, nil
		}
	}
	return nil, netip.Addr{}, fmt.Errorf("no pod %s on %s", pod, nodeName)
}

// podHandle returns a netlink handle inside the namespace of the pod's node,
// with the node and the pod's address; the caller closes the handle.
func (l *Lab) podHandle(pod string) (*netlink.Handle, *node.Node, netip.Addr, error) {
	nd, ip, err := l.podAddr(pod)
	if err != nil {
		return nil, nil, netip.Addr{}, err
	}
	h, err := nsutil.Handle(nd.NetNS())
	if err != nil {
		return nil, nil, netip.Addr{}, fmt.Errorf("netlink in %s's namespace: %w", nd.Name(), err)
	}
	return h, nd, ip, nil
}

// BreakRule deletes the pod's `from <ip> lookup <table>` rule in its node's
// namespace, so the pod's replies follow the main table out of the primary
// ENI, where the VPC's source check drops them.
func (l *Lab) BreakRule(ctx context.Context, pod string) error {
	h, nd, ip, err := l.podHandle(pod)
	if err != nil {
		return err
	}
	defer h.Close()
	rules, err := nsutil.Retry(func() ([]netlink.Rule, error) { return h.RuleList(unix.AF_INET) })
	if err != nil {
		return fmt.Errorf("listing rules on %s: %w", nd.Name(), err)
	}
	for i := range rules {
		r := rules[i]
		if r.Priority != FromIPRulePriority || r.Src == nil || !r.Src.IP.Equal(net.IP(ip.AsSlice())) {
			continue
		}
		if err := h.RuleDel(&r); err != nil {
			return fmt.Errorf("deleting rule from %s lookup %d: %w", ip, r.Table, err)
		}
		l.mu.Lock()
		l.broken[pod] = &r
		l.mu.Unlock()
		return nil
	}
	return fmt.Errorf("%s (%s) has no priority-%d rule: its address is on the primary ENI, whose traffic already leaves by eth0; pick a pod on a secondary ENI",
		pod, ip, FromIPRulePriority)
}

// FixRule puts back the rule BreakRule removed.
func (l *Lab) FixRule(ctx context.Context, pod string) error {
	l.mu.Lock()
	r := l.broken[pod]
	l.mu.Unlock()
	if r == nil {
		return fmt.Errorf("no rule of %s was deleted by breakRule", pod)
	}
	h, _, _, err := l.podHandle(pod)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.RuleAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding rule from %s lookup %d: %w", r.Src, r.Table, err)
	}
	l.mu.Lock()
	delete(l.broken, pod)
	l.mu.Unlock()
	return nil
}

// AddFault starts a fault rule now; its window opens after the step's
// start delay.
func (l *Lab) AddFault(f scenario.Fault) (string, error) {
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
func (l *Lab) Snapshot() scenario.Snapshot {
	var s scenario.Snapshot
	for _, nd := range l.lab.Nodes() {
		st := nd.Status()
		s.Nodes = append(s.Nodes, scenario.NodeState{
			Name: nd.Name(), InstanceID: nd.InstanceID(), InstanceType: nd.InstanceType(),
			MaxPods: st.MaxPods, ENIs: st.ENIs, TotalIPs: st.TotalIPs, AssignedIPs: st.AssignedIPs,
			WarmIPs: st.WarmIPs, Prefixes: st.Prefixes,
			ReadyPods: st.ReadyPods, PendingPods: st.PendingPods, RejectedPods: st.RejectedPods,
		})
		for _, p := range nd.Pods() {
			if p.Phase == node.PhaseReady {
				l.mu.Lock()
				l.ready[p.Name] = p.ReadyLatency
				l.mu.Unlock()
				continue
			}
			s.Waiting = append(s.Waiting, scenario.PodState{Name: p.Name, Phase: p.Phase, Message: p.Message})
		}
	}
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
	c := l.chaos.Counters()
	s.EC2 = scenario.EC2Counts{Calls: c.Calls, Errors: c.Errors, Throttled: c.Throttled, FaultsInjected: c.FaultsInjected}
	return s
}

// Close tears the whole lab down.
func (l *Lab) Close() error { return l.lab.Close() }
