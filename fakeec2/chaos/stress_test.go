package chaos_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2/chaos"
	"github.com/enilab/enilab/internal/clock"
)

// stressClients is the number of concurrent SDK clients, each with its
// own HTTP client, as 200 nodes' ipamds would be.
const stressClients = 200

// TestConcurrentSDKClients runs 200 SDK clients for a bounded time against
// one fakeec2, with EC2's default throttling and without: each creates
// ENIs, assigns, describes, unassigns and deletes, keeping what EC2
// answered. The only error allowed is RequestLimitExceeded; afterwards
// every ENI and address a client believes it holds is in EC2 exactly, no
// address is on two ENIs, and goroutines and heap return to their level.
func TestConcurrentSDKClients(t *testing.T) {
	run := 2 * time.Second
	if testing.Short() {
		run = 300 * time.Millisecond
	}
	goroutines, heap := settledRuntime()
	for _, tc := range []struct {
		name     string
		throttle chaos.Throttle
		none     bool
	}{{"aws-throttling", chaos.ThrottleAWS, false}, {"no-throttling", chaos.ThrottleNone, true}} {
		t.Run(tc.name, func(t *testing.T) { stressOnce(t, tc.throttle, tc.none, run) })
	}
	// The labs' cleanups have closed the servers, and with them every
	// client connection.
	afterG, afterHeap := settledRuntime()
	t.Logf("goroutines %d → %d, heap %d → %d KiB", goroutines, afterG, heap>>10, afterHeap>>10)
	assert.LessOrEqual(t, afterG, goroutines+5, "goroutines left behind")
	assert.Less(t, afterHeap, heap+64<<20, "heap after the runs (bytes)")
}

func stressOnce(t *testing.T, throttle chaos.Throttle, none bool, run time.Duration) {
	l := newLab(t, clock.Real{}, chaos.Config{Throttle: throttle})
	subnet := l.subnet
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()

	held := make([]map[string][]string, stressClients) // per client: ENI → addresses
	errs := make(chan error, stressClients)
	var ops, throttled sync.Map
	var wg sync.WaitGroup
	for i := range stressClients {
		held[i] = map[string][]string{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &stressWorker{c: l.client(nil), subnet: subnet, tag: fmt.Sprintf("stress-%d", i), held: held[i]}
			n, th, err := w.loop(ctx)
			ops.Store(i, n)
			throttled.Store(i, th)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	total, totalThrottled := sum(&ops), sum(&throttled)
	t.Logf("%d clients, %v: %d calls, %d throttled", stressClients, run, total, totalThrottled)
	require.Positive(t, total-totalThrottled, "no call got through")
	if none {
		assert.Zero(t, totalThrottled)
	}
	checkHeld(t, l.client(nil), held)
}

// stressWorker is one client's loop and what EC2 told it it holds.
type stressWorker struct {
	c      *ec2.Client
	subnet string
	tag    string
	held   map[string][]string
}

// loop cycles create → assign → describe → unassign → delete until stop
// ends; a throttled call is skipped (its effect did not happen) and every
// other error ends the loop. Calls themselves are not cancelled, so the
// outcome of each is known.
func (w *stressWorker) loop(stop context.Context) (calls, throttled int, err error) {
	ctx := context.Background()
	do := func(f func() error) bool {
		calls++
		switch err2 := f(); {
		case err2 == nil:
			return true
		case code(err2) == "RequestLimitExceeded":
			throttled++
		default:
			err = fmt.Errorf("%s: %w", w.tag, err2)
		}
		return false
	}
	for stop.Err() == nil && err == nil {
		var eni string
		if !do(func() error {
			out, e := w.c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{
				SubnetId: &w.subnet, Description: aws.String(w.tag), SecondaryPrivateIpAddressCount: aws.Int32(1)})
			if e == nil {
				eni = *out.NetworkInterface.NetworkInterfaceId
				w.held[eni] = addressesOf(out.NetworkInterface.PrivateIpAddresses)
			}
			return e
		}) {
			continue
		}
		w.cycle(ctx, eni, do)
	}
	return calls, throttled, err
}

// cycle works on one new ENI: assign two, describe, unassign one, delete.
func (w *stressWorker) cycle(ctx context.Context, eni string, do func(func() error) bool) {
	do(func() error {
		out, e := w.c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{
			NetworkInterfaceId: &eni, SecondaryPrivateIpAddressCount: aws.Int32(2)})
		if e == nil {
			for _, a := range out.AssignedPrivateIpAddresses {
				w.held[eni] = append(w.held[eni], *a.PrivateIpAddress)
			}
		}
		return e
	})
	do(func() error {
		_, e := w.c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eni}})
		return e
	})
	if last := w.held[eni]; len(last) > 1 {
		ip := last[len(last)-1]
		do(func() error {
			_, e := w.c.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{
				NetworkInterfaceId: &eni, PrivateIpAddresses: []string{ip}})
			if e == nil {
				w.held[eni] = last[:len(last)-1]
			}
			return e
		})
	}
	do(func() error {
		_, e := w.c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: &eni})
		if e == nil {
			delete(w.held, eni)
		}
		return e
	})
}

// checkHeld compares what the clients believe with what EC2 describes.
func checkHeld(t *testing.T, c *ec2.Client, held []map[string][]string) {
	want := map[string][]string{}
	for _, h := range held {
		for eni, ips := range h {
			want[eni] = ips
		}
	}
	got := map[string][]string{}
	owner := map[string]string{}
	p := ec2.NewDescribeNetworkInterfacesPaginator(c, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		require.NoError(t, err)
		for _, n := range page.NetworkInterfaces {
			ips := addressesOf(n.PrivateIpAddresses)
			for _, ip := range ips {
				require.NotContains(t, owner, ip, "address %s on two ENIs", ip)
				owner[ip] = *n.NetworkInterfaceId
			}
			if d := aws.ToString(n.Description); len(d) > 7 && d[:7] == "stress-" {
				got[*n.NetworkInterfaceId] = ips
			}
		}
	}
	require.Equal(t, len(want), len(got), "ENIs the clients hold vs ENIs in EC2")
	for eni, ips := range want {
		assert.ElementsMatch(t, ips, got[eni], "addresses of %s", eni)
	}
}

func addressesOf(list []types.NetworkInterfacePrivateIpAddress) []string {
	var out []string
	for _, a := range list {
		out = append(out, aws.ToString(a.PrivateIpAddress))
	}
	return out
}

func sum(m *sync.Map) int {
	n := 0
	m.Range(func(_, v any) bool { n += v.(int); return true })
	return n
}

// settledRuntime returns the goroutine count and live heap once idle HTTP
// connections have closed and a GC has run.
func settledRuntime() (int, uint64) {
	var ms runtime.MemStats
	for range 50 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}
