package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"

	"github.com/enilab/enilab/internal/gobuild"
)

// BenchmarkPluginSideBySide times enilab's plugin and upstream's aws-cni
// (VPC CNI v1.23.1, `make upstream`) in one lab and one run: twin nodes,
// one per plugin, with the same warm pool; enilab's is cmd/aws-cni, built
// here. Sub-benchmarks are <op>/plugin=<enilab|upstream> (scripts/bench.sh
// pairs them): add-del-seq (one pod at a time: ADD until ready, then DEL;
// p50/p90 of each), add-30 and add-100 (that many ADDs at once, until all
// are ready), version (exec VERSION through the node's runner, its mount
// namespace included). The upstream half is skipped, saying so, when
// upstream's aws-cni is not built. The figures and the ratios
// upstream/enilab are printed at the end.
func BenchmarkPluginSideBySide(b *testing.B) {
	// Readiness is the runner's "pod ready" event, not a poll of the
	// node's status (which takes ipamd's datastore lock, against the ADDs
	// it times).
	sig := readySignal{ready: make(chan struct{}, 256)}
	l := benchLab(b, "bss", LabConfig{
		Logger:         slog.New(sig),
		PodParallelism: 100,
		IPAMDEnv:       map[string]string{"WARM_IP_TARGET": "100", "MINIMUM_IP_TARGET": "110", "IP_COOLDOWN_PERIOD": "1"},
	})
	defer l.Close()
	// enilab's half runs cmd/aws-cni, the binary a node runs, as
	// upstream's half runs its aws-cni: not the lab re-executing itself
	// (the test binary, which links the whole lab).
	own := filepath.Join(b.TempDir(), "aws-cni")
	if err := gobuild.Command(own, "../cmd/aws-cni"); err != nil {
		b.Fatal(err)
	}
	plugins := []string{"enilab"}
	paths := map[string]string{"enilab": own}
	if up, err := UpstreamPlugin(); err == nil {
		plugins = append(plugins, "upstream")
		paths["upstream"] = up
	} else {
		b.Logf("upstream half skipped: %v", err)
	}
	nodes := map[string]*Node{}
	for _, p := range plugins {
		n, err := l.AddNode(context.Background(), Spec{Name: p, InstanceType: "m5.4xlarge", PluginPath: paths[p]})
		if err != nil {
			b.Fatal(err)
		}
		nodes[p] = n
		waitPool(b, n, 110)
	}
	res := &sideBySide{figures: map[string]float64{}, ready: sig.ready}
	for _, op := range []string{"add-del-seq", "add-30", "add-100", "version"} {
		for _, p := range plugins {
			b.Run(op+"/plugin="+p, func(b *testing.B) { res.run(b, op, p, nodes[p]) })
		}
	}
	// Printed, not logged: a parent benchmark's log is dropped once its
	// sub-benchmarks ran.
	fmt.Println(res.table(plugins))
}

// sideBySide collects each sub-benchmark's figures, keyed "op metric plugin".
type sideBySide struct {
	mu      sync.Mutex
	figures map[string]float64
	metrics []string // "op metric", in order of first report
	ready   <-chan struct{}
}

// awaitReady waits for count pods to become ready.
func (s *sideBySide) awaitReady(b *testing.B, count int) {
	b.Helper()
	for i := 0; i < count; i++ {
		select {
		case <-s.ready:
		case <-time.After(time.Minute):
			b.Fatalf("%d of %d pods ready after a minute", i, count)
		}
	}
}

func (s *sideBySide) report(b *testing.B, op, metric, plugin string, v float64) {
	b.ReportMetric(v, metric)
	s.mu.Lock()
	defer s.mu.Unlock()
	key := op + " " + metric
	if !slices.Contains(s.metrics, key) {
		s.metrics = append(s.metrics, key)
	}
	s.figures[key+" "+plugin] = v
}

func (s *sideBySide) run(b *testing.B, op, plugin string, n *Node) {
	// One untimed ADD and DEL first: the first exec of a binary and the
	// first gRPC connection of a node are not what is compared.
	b.StopTimer()
	if err := n.AddPods(context.Background(), 1); err != nil {
		b.Fatal(err)
	}
	s.awaitReady(b, 1)
	if err := n.DeletePods(context.Background(), 1); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	switch op {
	case "add-del-seq":
		add, del := s.addDelSeq(b, n)
		s.report(b, op, "add-p50-ms", plugin, ms(pct(add, 50)))
		s.report(b, op, "add-p90-ms", plugin, ms(pct(add, 90)))
		s.report(b, op, "del-p50-ms", plugin, ms(pct(del, 50)))
		s.report(b, op, "del-p90-ms", plugin, ms(pct(del, 90)))
	case "add-30", "add-100":
		count := 30
		if op == "add-100" {
			count = 100
		}
		s.report(b, op, "batch-ms", plugin, ms(pct(s.addBatch(b, n, count), 50)))
	case "version":
		s.report(b, op, "exec-ms", plugin, ms(pct(execVersion(b, n), 50)))
	}
}

// table is the figures side by side with the ratio upstream/enilab.
func (s *sideBySide) table(plugins []string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-24s", "figure (ms)")
	for _, p := range plugins {
		fmt.Fprintf(&sb, " %10s", p)
	}
	if len(plugins) == 2 {
		fmt.Fprintf(&sb, " %10s", "ratio")
	}
	for _, m := range s.metrics {
		fmt.Fprintf(&sb, "\n%-24s", strings.TrimSuffix(m, "-ms"))
		for _, p := range plugins {
			fmt.Fprintf(&sb, " %10.2f", s.figures[m+" "+p])
		}
		if e, u := s.figures[m+" enilab"], s.figures[m+" upstream"]; len(plugins) == 2 && e > 0 {
			fmt.Fprintf(&sb, " %9.2fx", u/e)
		}
	}
	return sb.String()
}

func waitPool(b *testing.B, n *Node, ips int) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for n.Status().TotalIPs < ips {
		if time.Now().After(deadline) {
			b.Fatalf("%s: warm pool of %d not reached: %+v", n.Name(), ips, n.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// seqPerOp is how many pods one iteration of add-del-seq adds and deletes,
// so even a short run has enough samples for a p90.
const seqPerOp = 10

// addDelSeq adds one pod and deletes it, seqPerOp × b.N times; it returns
// the ADD (created → ready) and DEL latencies. Each pod has a name of its
// own: a pod made again under the name just deleted (pods steps number
// pods from the lowest free pod-N) has the same host veth name, and its
// ADD deletes the old veth while the kernel still tears down the old
// namespace, a wait of the kernel's veth delete (BenchmarkFloorVethDelete)
// that lands on whichever plugin comes back sooner (docs/performance.md).
func (s *sideBySide) addDelSeq(b *testing.B, n *Node) (add, del []time.Duration) {
	ctx := context.Background()
	for i := 0; i < b.N*seqPerOp; i++ {
		start := time.Now()
		if err := n.StartPod(ctx, PodSpec{Name: fmt.Sprintf("seq-%d", i)}); err != nil {
			b.Fatal(err)
		}
		s.awaitReady(b, 1)
		add = append(add, time.Since(start))
		pods := n.Pods()
		start = time.Now()
		if err := n.DeletePod(ctx, pods[0].Name); err != nil {
			b.Fatal(err)
		}
		del = append(del, time.Since(start))
	}
	return add, del
}

// addBatch creates count pods at once and waits for all, b.N times; the
// deletes are not timed.
func (s *sideBySide) addBatch(b *testing.B, n *Node, count int) []time.Duration {
	ctx := context.Background()
	var out []time.Duration
	for i := 0; i < b.N; i++ {
		waitPool(b, n, count+10)
		b.StartTimer()
		start := time.Now()
		if err := n.AddPods(ctx, count); err != nil {
			b.Fatal(err)
		}
		s.awaitReady(b, count)
		out = append(out, time.Since(start))
		b.StopTimer()
		if err := n.DeletePods(ctx, count); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// execVersion runs the node's plugin's VERSION through the runner's exec
// hook, b.N times.
func execVersion(b *testing.B, n *Node) []time.Duration {
	ctx := context.Background()
	link := filepath.Join(n.binDir, "aws-cni")
	var out []time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		info, err := invoke.GetVersionInfo(ctx, link, n.exec())
		if err == nil && len(info.SupportedVersions()) == 0 {
			err = errors.New("no versions")
		}
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
	return out
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
