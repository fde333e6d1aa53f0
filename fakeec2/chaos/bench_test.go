package chaos

import (
	"io"
	"net/url"
	"testing"
	"time"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/clock"
)

// benchController is a realistic hot path: AWS-shaped buckets (large
// enough never to run dry, so every call takes the success path), two fault
// rules of which one selects the action at 1 %, a latency range, and the
// trace written as JSON Lines.
func benchController(b *testing.B, trace io.Writer) *Controller {
	c, err := New(Config{
		Clock: clock.NewFake(t0), Seed: 1, Trace: trace, TraceLimit: 10000,
		Throttle: ThrottleCustom(map[string]Bucket{"AssignPrivateIpAddresses": {Capacity: 1 << 30, Refill: 1}}),
		Latency:  map[string]Latency{"AssignPrivateIpAddresses": {Min: time.Millisecond, Max: 5 * time.Millisecond}},
		Faults: []Rule{
			{Kind: "internal", Operations: []string{"AssignPrivateIpAddresses"}, Percentage: 1},
			{Kind: "throttle", Operations: []string{"RunInstances"}},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func assignCall(t time.Time) fakeec2.Call {
	return fakeec2.Call{Action: "AssignPrivateIpAddresses", Attempt: 1, Time: t, Params: url.Values{
		"Action": {"AssignPrivateIpAddresses"}, "Version": {"2016-11-15"},
		"NetworkInterfaceId": {"eni-0123456789abcdef0"}, "SecondaryPrivateIpAddressCount": {"5"},
	}}
}

// BenchmarkBeforeAfter is the chaos layer's cost per request: throttling,
// rule evaluation, latency draw, counters and a JSON Lines trace line.
func BenchmarkBeforeAfter(b *testing.B) {
	for _, bc := range []struct {
		name  string
		trace io.Writer
	}{{"trace", io.Discard}, {"memory-only", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			c := benchController(b, bc.trace)
			call := assignCall(t0)
			b.ReportAllocs()
			for b.Loop() {
				v := c.Before(call)
				out := fakeec2.Outcome{Status: 200, RequestID: "r-1", Latency: v.Latency}
				if v.Err != nil {
					out.Status, out.Code = v.Err.Status, v.Err.Code
				}
				c.After(call, v, out)
			}
		})
	}
}

// BenchmarkBeforeAfterParallel shows the cost under contention (one mutex
// per controller, as EC2 has one bucket set per account and region).
func BenchmarkBeforeAfterParallel(b *testing.B) {
	c := benchController(b, io.Discard)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			call := assignCall(t0) // each request has its own Params
			v := c.Before(call)
			c.After(call, v, fakeec2.Outcome{Status: 200, Latency: v.Latency})
		}
	})
}
