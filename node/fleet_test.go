package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/nsutil"
)

func fleetLab(t testing.TB, tag string, cfg LabConfig) *Lab {
	t.Helper()
	needRoot(t)
	cfg.Prefix = testPrefix(t, tag)
	if cfg.TimeScale == 0 {
		cfg.TimeScale = 0.02
	}
	cfg.Subnets = []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.0.0/16", AZ: "us-west-2a"}}
	cfg.Datapath = DatapathNone
	require.NoError(t, Sweep(cfg.Prefix))
	l, err := NewLab(context.Background(), cfg)
	require.NoError(t, err)
	return l
}

// waitReady waits until each node has want ready pods, failing after limit.
func waitReady(t testing.TB, nodes []*Node, want int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for _, n := range nodes {
		for n.Status().ReadyPods < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d pods ready: %+v", n.Name(), n.Status().ReadyPods, want, n.Pods())
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
}

// A fleet node (datapath: none) has no namespace, yet its pods get VPC
// addresses from ipamd through AddNetwork (upstream cmdAdd's IPAM half),
// which EC2 holds on the node's ENIs, and DelNetwork gives them back.
func TestFleetNodePodsGetAddressesWithoutNamespaces(t *testing.T) {
	l := fleetLab(t, "fl", LabConfig{})
	defer l.Close()
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "c5.large"})
	require.NoError(t, err)
	assert.Equal(t, DatapathNone, n.Datapath())
	assert.Empty(t, n.NetNS())
	_, err = os.Stat(nsutil.Path(n.NetNSName()))
	assert.True(t, os.IsNotExist(err), "no node namespace: %v", err)

	require.NoError(t, n.AddPods(context.Background(), 12)) // more than one ENI's 9 on a c5.large
	waitReady(t, []*Node{n}, 12, 60*time.Second)
	seen := map[string]bool{}
	for _, p := range n.Pods() {
		require.True(t, p.IP.IsValid(), "pod %s has an address", p.Name)
		assert.False(t, seen[p.IP.String()], "address %s given twice", p.IP)
		seen[p.IP.String()] = true
		assert.Empty(t, p.NetNS)
		e, ok := l.EC2().ENI(p.ENI)
		require.True(t, ok, "pod %s on ENI %q", p.Name, p.ENI)
		assert.Equal(t, n.InstanceID(), e.InstanceID)
	}
	assert.GreaterOrEqual(t, n.Status().ENIs, 2)
	assert.ErrorContains(t, n.CheckPod(context.Background(), n.Pods()[0].Name), "datapath: none")

	require.NoError(t, n.DeletePods(context.Background(), 12))
	assert.Zero(t, n.Status().AssignedIPs)
}

// A fleet node has no namespace descriptor, so closing it closes none: its
// teardown used to close descriptor 0 (NsHandle's zero value), whatever
// the process had there (stdin, then any socket or file numbered 0 since),
// under the feet of its owner, such as a later lab's EC2 listener.
func TestFleetNodeCloseLeavesDescriptorZeroAlone(t *testing.T) {
	l := fleetLab(t, "fz", LabConfig{})
	defer l.Close()
	// Descriptor 0 is a file of the test's own for the node's life.
	saved, savedErr := unix.Dup(0)
	t.Cleanup(func() {
		if savedErr == nil {
			_ = unix.Dup2(saved, 0)
			_ = unix.Close(saved)
		} else {
			_ = unix.Close(0)
		}
	})
	f, err := os.Create(filepath.Join(t.TempDir(), "fd0"))
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, unix.Dup2(int(f.Fd()), 0))
	var want unix.Stat_t
	require.NoError(t, unix.Fstat(0, &want))

	_, err = l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "c5.large"})
	require.NoError(t, err)
	require.NoError(t, l.Close())

	var got unix.Stat_t
	require.NoError(t, unix.Fstat(0, &got), "descriptor 0 is still open after the fleet node's teardown")
	assert.Equal(t, [2]uint64{want.Dev, want.Ino}, [2]uint64{got.Dev, got.Ino}, "descriptor 0 is still the test's file")
}

// Bad datapath names are refused with the field named.
func TestDatapathValidate(t *testing.T) {
	assert.ErrorContains(t, Spec{Name: "n", InstanceType: "m5.large", Datapath: "ebpf"}.Validate(), `datapath "ebpf"`)
	assert.ErrorContains(t, LabConfig{Datapath: "ebpf", Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24"}}}.Validate(), `datapath "ebpf"`)
}

// BenchmarkFleetNodesPerSecond measures fleet nodes (datapath: none) simulated
// per second of wall time: each node boots (instance, IMDS, ipamd with its
// warm ENI) and starts 5 pods; reports nodes/s, and heap bytes and
// goroutines per node while they all run.
func BenchmarkFleetNodesPerSecond(b *testing.B) {
	for _, size := range []int{50, 200} {
		b.Run(fmt.Sprintf("nodes=%d", size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchFleet(b, size)
			}
		})
	}
}

func benchFleet(b *testing.B, size int) {
	l := fleetLab(b, "fb", LabConfig{TimeScale: 0.05})
	defer func() {
		b.StopTimer()
		_ = l.Close()
		b.StartTimer()
	}()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	start := time.Now()
	ctx := context.Background()
	nodes := make([]*Node, size)
	errs := make(chan error, size)
	for j := range nodes {
		go func() {
			n, err := l.AddNode(ctx, Spec{Name: fmt.Sprintf("node-%d", j+1), InstanceType: "m5.large"})
			if err == nil {
				nodes[j] = n
				err = n.AddPods(ctx, 5)
			}
			errs <- err
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	waitReady(b, nodes, 5, 5*time.Minute)
	b.ReportMetric(float64(size)/time.Since(start).Seconds(), "nodes/s")
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if f := os.Getenv("ENILAB_FLEET_HEAPPROFILE"); f != "" {
		writeHeapProfile(b, f)
	}
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(size), "heap-B/node")
	b.ReportMetric(float64(runtime.NumGoroutine()-g0)/float64(size), "goroutines/node")
}

// writeHeapProfile writes the heap at the fleet's peak, for pprof, and
// the goroutines (PATH.goroutines) by stack.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
	g, err := os.Create(path + ".goroutines")
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	if err := pprof.Lookup("goroutine").WriteTo(g, 1); err != nil {
		b.Fatal(err)
	}
}

// A ping from a fleet node's pod says why it cannot be sent.
func TestFleetPodPingNamesTheMissingDatapath(t *testing.T) {
	l := fleetLab(t, "fp", LabConfig{})
	defer l.Close()
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "c5.large"})
	require.NoError(t, err)
	require.NoError(t, n.AddPods(context.Background(), 2))
	waitReady(t, []*Node{n}, 2, 60*time.Second)
	assert.ErrorContains(t, l.Ping(context.Background(), "node-1/pod-1", "node-1/pod-2"), "without a datapath")
}
