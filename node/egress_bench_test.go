package node

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/enilab/enilab/internal/nsutil"
)

// BenchmarkPodToInternetConnect measures a TCP connect to the internet
// host's echo port through the fabric: from a pod in a private subnet via
// its NAT gateway and the internet gateway (external SNAT: the pod's own
// address leaves the node), and from a node in a public subnet via the
// internet gateway's 1:1 NAT alone. Reports the real-time p50 and p99.
func BenchmarkPodToInternetConnect(b *testing.B) {
	l := egressLab(b, "bi")
	ctx := context.Background()
	pub, err := l.AddNode(ctx, Spec{Name: "node-pub", InstanceType: "m5.large", Subnet: "subnet-pub"})
	if err != nil {
		b.Fatal(err)
	}
	priv, err := l.AddNode(ctx, Spec{Name: "node-priv", InstanceType: "m5.large", Subnet: "subnet-priv"})
	if err != nil {
		b.Fatal(err)
	}
	if err := priv.AddPods(ctx, 1); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); priv.Status().ReadyPods < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("pod not ready: %+v", priv.Pods())
		}
	}
	pod, _ := l.Pod("node-priv/pod-1")
	l.egress.resync()
	for _, c := range []struct{ name, ns string }{{"via=natgw/pod", pod.NetNS}, {"via=igw/node", pub.nsPath}} {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				d, err := connectFrom(c.ns)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, d)
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// connectFrom times one TCP connect from inside the namespace at nsPath.
func connectFrom(nsPath string) (time.Duration, error) {
	var d time.Duration
	err := nsutil.Do(nsPath, func() error {
		start := time.Now()
		c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(InternetHost, EchoPort).String(), CurlTimeout)
		d = time.Since(start)
		if err != nil {
			return err
		}
		return c.Close()
	})
	return d, err
}
