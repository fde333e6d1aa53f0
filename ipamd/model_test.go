package ipamd

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/fakeec2/chaos"
	"github.com/enilab/enilab/ipamd/datastore"
)

var (
	modelOps  = flag.Int("model.ops", 500, "operations per seed of TestModelRandom (make chaos N=…)")
	modelSeed = flag.Uint64("model.seed", 0, "run TestModelRandom with this seed only (0: the fixed CI seeds)")
)

// TestModelRandom drives ipamds on two nodes with a seeded random mix of
// pod ADDs and DELs, DELs that never come (a pod deleted with grace period
// 0 while ipamd was away), clean restarts, kills in the middle of whatever
// the pool manager is doing, configuration changes, EC2 faults (throttle,
// internal, unavailable) and lab time passing. After every operation it
// checks the invariants against its own model of the pods: no address in
// two pods; every pod's address assigned to it in ipamd and present on one
// of its node's ENIs in EC2. After quiescence (faults cleared, cleanup
// periods passed): EC2 ≡ datastore ≡ checkpoint, no ENI leaked, the pool
// stable, no goroutine left. A failure names the seed and writes a replay
// file for `enilab run`. The anchors are upstream's: no IP in two pods
// (datastore AssignPodIPv4Address), idempotent DEL (UnassignPodIPAddress),
// the atomic checkpoint (writeBackingStore), restore dropping pods that are
// gone (ReadBackingStore with the veth check), and the leaked-ENI cleanup.
func TestModelRandom(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4}
	if *modelSeed != 0 {
		seeds = []uint64{*modelSeed}
	}
	before := runtime.NumGoroutine()
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			m := newModel(t, seed)
			m.run(*modelOps)
			m.quiesce()
			m.checkQuiescent()
			t.Logf("seed %d: %d operations, %d nodes launched, %d stale IMDS answers", seed, *modelOps, m.named, m.staleAnswers())
		})
	}
	// The subtests' cleanups have closed their daemons, servers and clients.
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+2 }, 5*time.Second, 10*time.Millisecond,
		"goroutines left behind: %d before, %d after", before, runtime.NumGoroutine())
}

// chaosModel is the lab, the generator and what the pods hold.
type chaosModel struct {
	t     *testing.T
	seed  uint64
	rng   *rand.Rand
	lab   *testLab
	ctrl  *chaos.Controller
	nodes []*modelNode
	named int          // nodes launched so far (node-<n> names)
	all   []*modelNode // every node launched, terminated ones too
	log   []string     // the operations so far, as replay steps
}

type modelNode struct {
	name string
	typ  string
	n    *testNode
	imds *staleIMDS
	pods []modelPod // in creation order, as a scenario's delete takes the newest
	next int
	gone map[string]bool // pods deleted without a DEL: their veth is gone
}

type modelPod struct {
	name string
	ip   netip.Addr
}

func newModel(t *testing.T, seed uint64) *chaosModel {
	m := &chaosModel{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x6d6f64656c))}
	m.lab = newTestLab(t, func(c *fakeec2.Config) {
		ctrl, err := chaos.New(chaos.Config{Clock: c.Clock, Seed: int64(seed), Throttle: chaos.ThrottleNone})
		require.NoError(t, err)
		m.ctrl, c.Interceptor = ctrl, ctrl
	})
	t.Cleanup(func() {
		if t.Failed() {
			m.writeReplay()
		}
	})
	for _, typ := range modelNodeTypes {
		m.addNode(typ)
	}
	return m
}

// modelNodeTypes are the nodes every run starts with (the replay's nodes).
var modelNodeTypes = []string{"c5.large", "m5.large"}

// addNode launches an instance and starts its ipamd behind an IMDS that
// can go stale.
func (m *chaosModel) addNode(typ string) *modelNode {
	m.named++
	mn := &modelNode{name: fmt.Sprintf("node-%d", m.named), typ: typ, gone: map[string]bool{}}
	mn.n = m.lab.newNode(nodeSpec{Type: typ, Env: map[string]string{}, Modify: func(o *Options) {
		o.VethExists = func(veth string) (bool, error) { return mn.hasVeth(veth), nil }
	}})
	mn.imds = &staleIMDS{next: m.lab.ec2.IMDS(mn.n.inst.ID), clk: m.lab.clk, cache: map[string]imdsAnswer{}}
	srv := httptest.NewServer(mn.imds)
	m.t.Cleanup(srv.Close)
	mn.n.opts.IMDSEndpoint, mn.n.imdsURL = srv.URL, srv.URL
	m.start(mn)
	m.nodes = append(m.nodes, mn)
	m.all = append(m.all, mn)
	return mn
}

func (mn *modelNode) hasVeth(veth string) bool {
	for _, p := range mn.pods {
		if vethOf("default", p.name) == veth {
			return true
		}
	}
	return false
}

// run draws and applies ops operations, checking after each.
func (m *chaosModel) run(ops int) {
	for i := 0; i < ops; i++ {
		mn := m.nodes[m.rng.IntN(len(m.nodes))]
		switch r := m.rng.IntN(100); {
		case r < 35:
			m.add(mn)
		case r < 55:
			m.del(mn, 1+m.rng.IntN(3))
		case r < 60:
			m.forget(mn)
		case r < 64:
			m.restart(mn, false)
		case r < 68:
			m.restart(mn, true)
		case r < 71:
			m.reconfigure(mn)
		case r < 78:
			m.fault()
		case r < 82:
			m.imdsLag(mn)
		case r < 84:
			m.churnNode()
		default:
			m.sleep(time.Duration(1+m.rng.IntN(30)) * time.Second)
		}
		m.check(i)
	}
}

func (m *chaosModel) add(mn *modelNode) {
	mn.next++
	pod := fmt.Sprintf("pod-%d", mn.next)
	m.step("{pods: {node: %s, add: 1}}", mn.name)
	if r := mn.n.addPod(pod); r.Success {
		ip, err := netip.ParseAddr(r.IPAllocationMetadata[0].IPv4Addr)
		require.NoError(m.t, err)
		mn.pods = append(mn.pods, modelPod{pod, ip})
	} else {
		// A pod the kubelet would retry; the model drops it (no address).
		m.step("# %s/%s got no address (kubelet would retry)", mn.name, pod)
	}
}

// del deletes the newest count pods, as a scenario's delete does.
func (m *chaosModel) del(mn *modelNode, count int) {
	count = min(count, len(mn.pods))
	if count == 0 {
		return
	}
	m.step("{pods: {node: %s, delete: %d}}", mn.name, count)
	for range count {
		p := mn.pods[len(mn.pods)-1]
		r, err := mn.n.del(p.name)
		require.NoError(m.t, err)
		require.True(m.t, r.Success, "DEL of %s/%s refused", mn.name, p.name)
		mn.pods = mn.pods[:len(mn.pods)-1]
	}
}

// forget removes the newest pod without a DEL (a force delete while the
// runtime was away): its address stays assigned until ipamd's restore sees
// the veth gone.
func (m *chaosModel) forget(mn *modelNode) {
	if len(mn.pods) == 0 {
		return
	}
	p := mn.pods[len(mn.pods)-1]
	mn.pods = mn.pods[:len(mn.pods)-1]
	mn.gone[p.name] = true
	m.step("# %s/%s deleted with grace period 0 and no DEL (no scenario step for this)", mn.name, p.name)
}

// restart stops and starts the node's ipamd; kill does it without letting
// the pool manager finish what the last clock step started.
func (m *chaosModel) restart(mn *modelNode, kill bool) {
	m.step("{restart: {node: %s}}", mn.name)
	if kill {
		m.lab.clk.Advance(time.Duration(1+m.rng.IntN(10)) * time.Second)
		time.Sleep(time.Duration(m.rng.IntN(300)) * time.Microsecond)
	}
	mn.n.stop()
	m.start(mn)
}

// start runs the node's ipamd while lab time passes, as it does for a real
// aws-node: a start-up call that EC2 fails is retried after a back-off on
// the lab clock. A start that fails is retried as the kubelet restarts a
// crashed container.
func (m *chaosModel) start(mn *modelNode) {
	for attempt := 1; ; attempt++ {
		done := make(chan error, 1)
		go func() { _, err := mn.n.tryStart(); done <- err }()
		err := m.passTimeUntil(done)
		if err == nil {
			return
		}
		require.Less(m.t, attempt, 10, "seed %d: %s's ipamd does not start: %v", m.seed, mn.name, err)
		m.step("# %s's ipamd exited at start: %v", mn.name, err)
		m.lab.clk.Advance(10 * time.Second)
	}
}

// passTimeUntil advances lab time a second per real millisecond until done
// answers, for at most an hour of lab time.
func (m *chaosModel) passTimeUntil(done <-chan error) error {
	for waited := 0; ; waited++ {
		select {
		case err := <-done:
			return err
		case <-time.After(time.Millisecond):
			require.Less(m.t, waited, 3600, "seed %d: an ipamd start took an hour of lab time", m.seed)
			m.lab.clk.Advance(time.Second)
		}
	}
}

func (m *chaosModel) reconfigure(mn *modelNode) {
	env := map[string]string{}
	switch m.rng.IntN(4) {
	case 1:
		env["WARM_IP_TARGET"] = fmt.Sprint(1 + m.rng.IntN(5))
	case 2:
		env["WARM_IP_TARGET"], env["MINIMUM_IP_TARGET"] = "2", fmt.Sprint(5+m.rng.IntN(10))
	case 3:
		env["WARM_ENI_TARGET"] = "2"
	}
	mn.n.env = env
	m.step("# %s's ipamd restarts with %v (scenarios set ipamd.env for every node)", mn.name, env)
	mn.n.stop()
	m.start(mn)
}

// imdsLag makes the node's IMDS answer, for a while, what it answered
// before: addresses unassigned since, no ENI attached since (upstream's
// issues with stale IMDS handing out an address EC2 no longer has; its
// nodeIPPoolReconcile asks EC2 when IMDS and the datastore disagree).
func (m *chaosModel) imdsLag(mn *modelNode) {
	d := time.Duration(5+m.rng.IntN(116)) * time.Second
	mn.imds.staleUntil(m.lab.clk.Now().Add(d))
	m.step("# %s's IMDS answers as of now for %s (a scenario's ec2.imdsLag is a fixed lag)", mn.name, d)
}

func (m *chaosModel) staleAnswers() int {
	n := 0
	for _, mn := range m.all {
		n += mn.imds.served()
	}
	return n
}

// churnNode launches a third node, or terminates it with its ipamd in
// whatever state it is: its ENIs go with the instance (DeleteOnTermination,
// which ipamd sets on every ENI it attaches), and an ENI it had created but
// not attached is cleaned up by another node (cleanUpLeakedENIs).
func (m *chaosModel) churnNode() {
	if len(m.nodes) == len(modelNodeTypes) {
		typ := modelNodeTypes[m.rng.IntN(len(modelNodeTypes))]
		mn := m.addNode(typ)
		m.step("# %s (%s) joins the cluster (no scenario step for this)", mn.name, typ)
		return
	}
	mn := m.nodes[len(m.nodes)-1]
	m.step("# %s is terminated (no scenario step for this)", mn.name)
	mn.n.stop()
	require.NoError(m.t, m.lab.ec2.TerminateInstance(mn.n.inst.ID))
	m.nodes = m.nodes[:len(m.nodes)-1]
	for _, e := range m.lab.ec2.ENIs() {
		require.NotEqual(m.t, mn.n.inst.ID, e.InstanceID, "seed %d: ENI %s still attached to terminated %s", m.seed, e.ID, mn.name)
	}
}

var modelActions = []string{"CreateNetworkInterface", "AttachNetworkInterface", "AssignPrivateIpAddresses",
	"UnassignPrivateIpAddresses", "DescribeNetworkInterfaces", "DeleteNetworkInterface", "DetachNetworkInterface"}

func (m *chaosModel) fault() {
	kinds := []string{"throttle", "internal", "unavailable"}
	r := chaos.Rule{
		Kind:       kinds[m.rng.IntN(len(kinds))],
		Operations: []string{modelActions[m.rng.IntN(len(modelActions))]},
		Count:      1 + m.rng.IntN(5),
	}
	_, err := m.ctrl.AddRule(r)
	require.NoError(m.t, err)
	m.step("{fault: {kind: %s, operations: [%s], count: %d}}", r.Kind, r.Operations[0], r.Count)
}

func (m *chaosModel) sleep(d time.Duration) {
	m.step("{sleep: %s}", d)
	m.lab.advance(d, time.Second)
}

func (m *chaosModel) step(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf(format, args...))
}

// check holds after every operation: no address in two pods, and each
// pod's address is assigned to it in its ipamd and on one of its node's
// ENIs in EC2.
func (m *chaosModel) check(op int) {
	owner := map[netip.Addr]string{}
	for _, mn := range m.nodes {
		inEC2 := mn.ec2Addresses()
		for _, p := range mn.pods {
			where := fmt.Sprintf("op %d (seed %d): %s/%s", op, m.seed, mn.name, p.name)
			if held, ok := owner[p.ip]; ok {
				m.t.Fatalf("%s: %s is also %s's", where, p.ip, held)
			}
			owner[p.ip] = mn.name + "/" + p.name
			a, ok := mn.n.d.store.Lookup(modelKey(p.name))
			require.True(m.t, ok, "%s: ipamd has no assignment for the pod", where)
			require.Equal(m.t, p.ip, a.IP, "%s: ipamd's address", where)
			require.True(m.t, inEC2(p.ip), "%s: %s is on none of the node's ENIs in EC2", where, p.ip)
		}
	}
}

func modelKey(pod string) datastore.Key {
	return datastore.Key{NetworkName: "aws-cni", ContainerID: "c-" + pod, IfName: "eth0"}
}

// ec2Addresses returns a test of whether EC2 has ip on the node's ENIs
// (as a secondary address or inside a prefix).
func (mn *modelNode) ec2Addresses() func(netip.Addr) bool {
	enis := mn.n.ec2ENIs()
	return func(ip netip.Addr) bool {
		for _, e := range enis {
			if slices.Contains(e.SecondaryIPs, ip) || slices.ContainsFunc(e.Prefixes, func(p netip.Prefix) bool { return p.Contains(ip) }) {
				return true
			}
		}
		return false
	}
}

// quiesce clears the faults, restarts every ipamd (its restore drops the
// pods deleted without a DEL) and lets the cleanup periods pass.
func (m *chaosModel) quiesce() {
	for _, r := range m.ctrl.Rules() {
		m.ctrl.RemoveRule(r.Name)
	}
	for _, mn := range m.nodes {
		mn.n.stop()
		m.start(mn)
	}
	m.lab.advance(70*time.Minute, time.Minute) // past the leaked-ENI scan and every cooldown
}

// checkQuiescent: EC2 ≡ datastore ≡ checkpoint, pods ≡ assignments, no
// unattached ENI, and another stretch of time changes nothing.
func (m *chaosModel) checkQuiescent() {
	for _, mn := range m.nodes {
		d := mn.n.d
		var want []string
		for _, p := range mn.pods {
			want = append(want, p.ip.String())
		}
		var got []string
		for _, a := range d.store.Assignments() {
			got = append(got, a.IP.String())
		}
		require.ElementsMatch(m.t, want, got, "seed %d: %s: pods vs ipamd's assignments after quiescence", m.seed, mn.name)

		cp, found, err := datastore.File{Path: mn.n.opts.CheckpointPath}.Load()
		require.NoError(m.t, err)
		require.True(m.t, found)
		var inCP []string
		for _, e := range cp.Allocations {
			inCP = append(inCP, e.IPv4)
		}
		require.ElementsMatch(m.t, want, inCP, "seed %d: %s: pods vs checkpoint", m.seed, mn.name)

		st := d.Status()
		require.Equal(m.t, mn.n.ec2Addresses(), st.TotalIPs, "seed %d: %s: EC2's addresses vs ipamd's pool", m.seed, mn.name)
		require.Equal(m.t, len(mn.n.ec2ENIs()), st.ENIs, "seed %d: %s: EC2's ENIs vs ipamd's", m.seed, mn.name)
	}
	for _, e := range m.lab.ec2.ENIs() {
		require.NotEmpty(m.t, e.InstanceID, "seed %d: ENI %s leaked (unattached after the cleanup period)", m.seed, e.ID)
	}
	before := m.statuses()
	m.lab.advance(5*time.Minute, 10*time.Second)
	require.Equal(m.t, before, m.statuses(), "seed %d: the pool still moves after quiescence", m.seed)
}

func (m *chaosModel) statuses() []Status {
	var out []Status
	for _, mn := range m.nodes {
		out = append(out, mn.n.d.Status())
	}
	return out
}

// writeReplay writes the operations as a scenario for `enilab run`.
func (m *chaosModel) writeReplay() {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("enilab-model-seed-%d.yaml", m.seed))
	if err := os.WriteFile(path, []byte(m.replay()), 0o644); err != nil {
		m.t.Logf("seed %d: write replay: %v", m.seed, err)
		return
	}
	m.t.Logf("seed %d failed; replay: enilab run %s", m.seed, path)
}

// replay is the operations so far as a scenario; what scenarios cannot
// express is kept as comments.
func (m *chaosModel) replay() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Replay of TestModelRandom seed %d (go test ./ipamd/ -run TestModelRandom -model.seed=%d).\n", m.seed, m.seed)
	fmt.Fprintf(&b, "name: model-seed-%d\nseed: %d\ntimeScale: 0.05\n", m.seed, m.seed)
	b.WriteString("vpc:\n  cidr: 10.0.0.0/16\n  subnets:\n    - {id: subnet-a, cidr: 10.0.0.0/20, az: us-west-2a}\n")
	b.WriteString("ec2: {throttle: none}\nnodes:\n")
	for i, typ := range modelNodeTypes {
		fmt.Fprintf(&b, "  - {name: node-%d, instanceType: %s, subnet: subnet-a}\n", i+1, typ)
	}
	b.WriteString("steps:\n")
	for _, s := range m.log {
		switch node := replayNodeRE.FindStringSubmatch(s); {
		case strings.HasPrefix(s, "#"):
			fmt.Fprintf(&b, "  %s\n", s)
		case node != nil && !m.initialNode(node[1]):
			// A node that joined during the run: no scenario step adds one.
			fmt.Fprintf(&b, "  # %s\n", s)
		default:
			fmt.Fprintf(&b, "  - %s\n", s)
		}
	}
	return b.String()
}

var replayNodeRE = regexp.MustCompile(`node: (node-[0-9]+)`)

func (m *chaosModel) initialNode(name string) bool {
	for i := range modelNodeTypes {
		if name == fmt.Sprintf("node-%d", i+1) {
			return true
		}
	}
	return false
}
