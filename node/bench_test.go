package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

func benchLab(b *testing.B, tag string, cfg LabConfig) *Lab {
	b.Helper()
	needRoot(b)
	cfg.Prefix = testPrefix(b, tag)
	if cfg.TimeScale == 0 {
		cfg.TimeScale = 0.02
	}
	cfg.Subnets = []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.0.0/20", AZ: "us-west-2a"}}
	if err := Sweep(cfg.Prefix); err != nil {
		b.Fatal(err)
	}
	l, err := NewLab(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkLabStart measures a lab coming up: fakeec2, VPC namespace, and
// N nodes each with namespace, eth0, endpoints and a serving ipamd.
func BenchmarkLabStart(b *testing.B) {
	for _, nodes := range []int{1, 10} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				l := benchLab(b, "bs", LabConfig{})
				for j := 1; j <= nodes; j++ {
					if _, err := l.AddNode(context.Background(), Spec{Name: fmt.Sprintf("node-%d", j), InstanceType: "m5.large"}); err != nil {
						l.Close()
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkPodReady measures pod readiness with a warm pool: ADD through
// libcni, the plugin binary and ipamd's gRPC, pods created one at a time.
// Reports real-time p50/p99 per pod.
func BenchmarkPodReady(b *testing.B) {
	l := benchLab(b, "bp", LabConfig{IPAMDEnv: map[string]string{"WARM_IP_TARGET": "30", "MINIMUM_IP_TARGET": "30", "IP_COOLDOWN_PERIOD": "1"}})
	defer l.Close()
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "m5.2xlarge"})
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for n.Status().TotalIPs < 30 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ctx := context.Background()
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := n.AddPods(ctx, 1); err != nil {
			b.Fatal(err)
		}
		for n.Status().ReadyPods < 1 {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("pod not ready: %+v", n.Pods())
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		if err := n.DeletePods(ctx, 1); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
