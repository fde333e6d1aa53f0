package ipamd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/enilab/enilab/ipamd/rpc"
)

// BenchmarkAddNetworkSocket measures the hand-off the CNI plugin waits for:
// AddNetwork over the unix socket with a warm pool (checkpoint fsync
// included), reporting p50/p99. Each pod is deleted again so the pool never
// runs dry (IP_COOLDOWN_PERIOD=0).
func BenchmarkAddNetworkSocket(b *testing.B) {
	l := newTestLab(b)
	n := l.newNode(nodeSpec{Type: "m5.4xlarge", Env: map[string]string{"IP_COOLDOWN_PERIOD": "0", "WARM_IP_TARGET": "50"}})
	n.opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n.start()
	l.advance(20*time.Second, time.Second)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := n.addReq(fmt.Sprintf("bench-%d", i))
		start := time.Now()
		r, err := n.client.AddNetwork(ctx, req)
		lat = append(lat, time.Since(start))
		if err != nil || !r.Success {
			b.Fatalf("AddNetwork: %v %v", r, err)
		}
		b.StopTimer()
		if _, err := n.client.DelNetwork(ctx, &rpc.DelNetworkRequest{ContainerID: req.ContainerID, IfName: "eth0", NetworkName: "aws-cni", ClientVersion: rpc.Version}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
