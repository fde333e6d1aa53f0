package node

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/vmenv"
)

// TestFiveHundredPodsChurn fills three m5.4xlarge nodes with 500 pods
// through the real plugin and ipamd, then deletes and re-adds pods for a
// bounded time. After the churn every pod is ready, each ipamd holds as
// many assigned addresses as its node has pods, no address is in two pods,
// and goroutines and heap are back where they were before the churn.
func TestFiveHundredPodsChurn(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("500 pods")
	}
	if vmenv.Emulated() {
		// A load test: under software emulation (10–50× slower) 500 pods
		// outrun its real-time bounds. The host run covers it.
		t.Skip("500 pods under software emulation (ENILAB_VM_ACCEL=tcg); the load test runs on the host")
	}
	ctx := context.Background()
	l := churnLab(t)
	want := map[*Node]int{}
	for i, count := range []int{167, 167, 166} {
		n, err := l.AddNode(ctx, Spec{Name: fmt.Sprintf("node-%d", i+1), InstanceType: "m5.4xlarge"})
		require.NoError(t, err)
		require.NoError(t, n.AddPods(ctx, count))
		want[n] = count
	}
	waitAllReady(t, want)
	g0, heap0 := quietRuntime()

	rounds := 0
	for stop := time.Now().Add(5 * time.Second); time.Now().Before(stop); rounds++ {
		for n := range want {
			require.NoError(t, n.DeletePods(ctx, 10))
			require.NoError(t, n.AddPods(ctx, 10))
		}
		waitAllReady(t, want)
	}
	g1, heap1 := settledRuntime(g0 + 20)
	t.Logf("%d churn rounds of 30 pods; goroutines %d → %d, heap %d → %d KiB", rounds, g0, g1, heap0>>10, heap1>>10)

	owner := map[string]string{}
	for n, count := range want {
		assert.Equal(t, count, n.IPAMD().Status().AssignedIPs, "%s: ipamd's assigned addresses", n.Name())
		for _, p := range n.Pods() {
			ip := p.IP.String()
			require.NotContains(t, owner, ip, "%s is in %s and %s", ip, owner[ip], p.Name)
			owner[ip] = p.Name
		}
	}
	assert.LessOrEqual(t, g1, g0+20, "goroutines after the churn")
	assert.Less(t, heap1, heap0+32<<20, "heap after the churn (bytes)")
}

func churnLab(t *testing.T) *Lab {
	return testLab(t, "churn", LabConfig{
		Seed:      7,
		TimeScale: 0.02,
		Subnets:   []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.0.0/20", AZ: "us-west-2a"}},
	})
}

// waitAllReady waits (real time, generously) until every node has its
// count of pods ready.
func waitAllReady(t *testing.T, want map[*Node]int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for n, count := range want {
		for n.Status().ReadyPods < count {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d pods ready", n.Name(), n.Status().ReadyPods, count)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// settledRuntime waits up to 30 s (real time) for the goroutine count to
// come down to want — a slow VM ends the lab's last veth and gRPC
// goroutines late — and returns the count and heap it ends with. A real
// leak stays above want and fails the caller's assertion.
func settledRuntime(want int) (int, uint64) {
	g, heap := quietRuntime()
	for stop := time.Now().Add(30 * time.Second); g > want && time.Now().Before(stop); {
		time.Sleep(500 * time.Millisecond)
		g, heap = quietRuntime()
	}
	return g, heap
}

// quietRuntime is the goroutine count and live heap after a few GCs.
func quietRuntime() (int, uint64) {
	var ms runtime.MemStats
	for range 5 {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
	}
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}
