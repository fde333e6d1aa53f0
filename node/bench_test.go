package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"

	"github.com/enilab/enilab/internal/gobuild"
	"github.com/enilab/enilab/internal/nsutil"
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
// N nodes, started as one node group (AddNodes, as a scenario starts its
// nodes), each with namespace, eth0, endpoints and a serving ipamd.
func BenchmarkLabStart(b *testing.B) {
	for _, nodes := range []int{1, 10} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				l := benchLab(b, "bs", LabConfig{})
				specs := make([]Spec, nodes)
				for j := range specs {
					specs[j] = Spec{Name: fmt.Sprintf("node-%d", j+1), InstanceType: "m5.large"}
				}
				if _, errs := l.AddNodes(context.Background(), specs); errors.Join(errs...) != nil {
					l.Close()
					b.Fatal(errors.Join(errs...))
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

// readySignal is a log handler that reports every "pod ready" line of the
// lab, so the benchmark waits for the runner's event instead of polling
// the node (whose status walks ipamd and fakeec2, and would compete with
// the ADD for the CPU).
type readySignal struct{ ready chan struct{} }

func (h readySignal) Enabled(context.Context, slog.Level) bool { return true }
func (h readySignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "pod ready" {
		h.ready <- struct{}{}
	}
	return nil
}
func (h readySignal) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h readySignal) WithGroup(string) slog.Handler      { return h }

// BenchmarkPodReady measures pod readiness with a warm pool: the pod's
// netns, ADD through libcni, the plugin binary and ipamd's gRPC, pods
// created one at a time, each with a name of its own (see addDelSeq: a
// name just deleted waits for the kernel's teardown of the old namespace's
// veth). Reports real-time p50/p99 per pod. binary=aws-cni
// executes cmd/aws-cni, the plugin a node runs; binary=reexec is what a
// lab binary without plugins of its build runs (ownPlugin): its own binary
// (here the test binary, which links the whole lab) as the plugin.
func BenchmarkPodReady(b *testing.B) {
	b.Run("binary=aws-cni", func(b *testing.B) {
		bin := filepath.Join(b.TempDir(), "aws-cni")
		if err := gobuild.Command(bin, "../cmd/aws-cni"); err != nil {
			b.Fatal(err)
		}
		benchPodReady(b, bin)
	})
	b.Run("binary=reexec", func(b *testing.B) {
		exe, err := os.Executable()
		if err != nil {
			b.Fatal(err)
		}
		benchPodReady(b, exe)
	})
}

func benchPodReady(b *testing.B, plugin string) {
	sig := readySignal{ready: make(chan struct{}, 1)}
	l := benchLab(b, "bp", LabConfig{PluginPath: plugin, Logger: slog.New(sig),
		IPAMDEnv: map[string]string{"WARM_IP_TARGET": "30", "MINIMUM_IP_TARGET": "30", "IP_COOLDOWN_PERIOD": "1"}})
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
		if err := n.StartPod(ctx, PodSpec{Name: fmt.Sprintf("ready-%d", i)}); err != nil {
			b.Fatal(err)
		}
		select {
		case <-sig.ready:
		case <-time.After(30 * time.Second):
			b.Fatalf("pod not ready: %+v", n.Pods())
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		if err := n.DeletePod(ctx, n.Pods()[0].Name); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkNodeExec measures the runner's exec hook around a plugin that
// only answers VERSION (a shell script): entering the node's network
// namespace and its filesystem view, either built for the call
// (view=fresh: unshare, / made a slave, two binds, the thread's exit) or
// the node's kept view entered with setns (view=kept, what a node does).
func BenchmarkNodeExec(b *testing.B) {
	needRoot(b)
	name := testPrefix(b, "bx")
	_ = nsutil.DeleteNamed(name)
	nsPath, err := nsutil.NewNamed(name)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = nsutil.DeleteNamed(name) }()
	plugin := filepath.Join(b.TempDir(), "version")
	if err := os.WriteFile(plugin, []byte("#!/bin/sh\necho '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"1.0.0\"]}'\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	binds := []bindMount{{AWSNodeRunDir, b.TempDir()}, {AWSNodeLogDir, b.TempDir()}}
	for _, kept := range []bool{false, true} {
		b.Run(map[bool]string{false: "view=fresh", true: "view=kept"}[kept], func(b *testing.B) {
			e := &nodeExec{raw: invoke.RawExec{Stderr: os.Stderr}, netns: nsPath, binds: binds}
			if kept {
				e.view = &mountView{}
				defer e.view.close()
			}
			for i := 0; i < b.N; i++ {
				if _, err := invoke.GetVersionInfo(context.Background(), plugin, e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
