package node

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var datapathOps = flag.Int("datapath.ops", 40, "operations per seed of TestDatapathModelRandom")

// TestDatapathModelRandom is the model-based test with the full datapath
// (the shorter run; ipamd's TestModelRandom runs long without one): a
// seeded mix of pod ADDs, DELs by name and newest first, and ipamd restarts
// on two nodes, with real veths, routes and rules. After every operation,
// once the runner has settled: every pod is ready, no address is in two
// pods, each pod's address is assigned to it in its ipamd and held by its
// ENI in EC2 (upstream's invariants), and a random pair of pods reaches
// each other. At the end every address goes back.
func TestDatapathModelRandom(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a lab per seed")
	}
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runDatapathModel(t, seed, *datapathOps) })
	}
}

func runDatapathModel(t *testing.T, seed uint64, ops int) {
	l := churnLab(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 0x64617461))
	var nodes []*Node
	want := map[*Node]int{}
	for i := range 2 {
		n, err := l.AddNode(ctx, Spec{Name: fmt.Sprintf("node-%d", i+1), InstanceType: "c5.large"})
		require.NoError(t, err)
		nodes = append(nodes, n)
		want[n] = 0
	}
	for op := range ops {
		n := nodes[rng.IntN(len(nodes))]
		pods := n.Pods()
		switch r := rng.IntN(10); {
		case r < 5 && want[n] < 20: // c5.large's max pods is 29
			k := 1 + rng.IntN(3)
			require.NoError(t, n.AddPods(ctx, k), "op %d", op)
			want[n] += k
		case r < 7 && len(pods) > 0:
			victim := pods[rng.IntN(len(pods))].Name
			require.NoError(t, n.DeletePod(ctx, victim), "op %d: delete %s", op, victim)
			want[n]--
		case r < 9 && len(pods) > 0:
			k := 1 + rng.IntN(min(3, len(pods)))
			require.NoError(t, n.DeletePods(ctx, k), "op %d", op)
			want[n] -= k
		default:
			require.NoError(t, n.RestartIPAMD(ctx), "op %d: restart ipamd on %s", op, n.Name())
		}
		checkDatapathModel(t, l, want, rng, fmt.Sprintf("seed %d op %d", seed, op))
	}
	for n, count := range want {
		require.NoError(t, n.DeletePods(ctx, count))
	}
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			if n.Status().AssignedIPs != 0 {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "every address goes back once the pods are gone")
}

func checkDatapathModel(t *testing.T, l *Lab, want map[*Node]int, rng *rand.Rand, at string) {
	t.Helper()
	waitAllReady(t, want)
	owner := map[netip.Addr]string{}
	var ready []string
	for _, n := range l.Nodes() {
		count := want[n]
		pods := n.Pods()
		require.Len(t, pods, count, "%s: %s's pods", at, n.Name())
		assigned := map[netip.Addr]bool{}
		for _, a := range n.IPAMD().Assignments() {
			assigned[a.IP] = true
		}
		for _, p := range pods {
			require.Equal(t, PhaseReady, p.Phase, "%s: %s: %s", at, p.Name, p.Message)
			require.NotContains(t, owner, p.IP, "%s: %s is in %s and %s", at, p.IP, owner[p.IP], p.Name)
			owner[p.IP] = p.Name
			require.True(t, assigned[p.IP], "%s: %s's %s is not assigned in ipamd", at, p.Name, p.IP)
			e, ok := l.EC2().ENI(p.ENI)
			require.True(t, ok, "%s: %s's ENI %q", at, p.Name, p.ENI)
			require.Contains(t, e.SecondaryIPs, p.IP, "%s: EC2 has %s's address on %s", at, p.Name, p.ENI)
			ready = append(ready, p.Name)
		}
	}
	if len(ready) < 2 {
		return
	}
	from, to := ready[rng.IntN(len(ready))], ready[rng.IntN(len(ready))]
	if l.Backend() == BackendDummy && !sameNode(from, to) {
		return // the dummy backend carries no traffic between nodes
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, l.Ping(ctx, from, to), "%s", at)
}
