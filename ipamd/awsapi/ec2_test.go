package awsapi

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/awshttp"
	"github.com/enilab/enilab/internal/clock"
)

// throttleFirst answers the first n calls of an action with
// RequestLimitExceeded.
type throttleFirst struct {
	mu     sync.Mutex
	action string
	n      int
	calls  []time.Time
}

func (f *throttleFirst) Before(c fakeec2.Call) fakeec2.Verdict {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Action != f.action {
		return fakeec2.Verdict{}
	}
	f.calls = append(f.calls, c.Time)
	if len(f.calls) <= f.n {
		return fakeec2.Verdict{Err: &fakeec2.Error{Code: "RequestLimitExceeded", Message: "Request limit exceeded.", Status: 503}}
	}
	return fakeec2.Verdict{}
}

func (f *throttleFirst) After(fakeec2.Call, fakeec2.Verdict, fakeec2.Outcome) {}

type recorder struct {
	mu    sync.Mutex
	calls int
	errs  map[string]int
	took  []time.Duration
}

func (r *recorder) ObserveEC2(action string, took time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.took = append(r.took, took)
	if err != nil {
		r.errs[Code(err)]++
	}
}

func newClient(t *testing.T, ic fakeec2.Interceptor, clk clock.Clock, obs Observer, r ...Retry) (*EC2, *fakeec2.Server) {
	srv, err := fakeec2.New(fakeec2.Config{Clock: clk, Interceptor: ic})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	api := ec2.New(ec2.Options{
		Region: "us-west-2", BaseEndpoint: aws.String(hs.URL), Retryer: aws.NopRetryer{}, HTTPClient: awshttp.New(),
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
	})
	var rr Retry
	if len(r) > 0 {
		rr = r[0]
	}
	return NewEC2(api, clk, slog.New(slog.NewTextHandler(io.Discard, nil)), obs, rr), srv
}

// Throttled calls are retried as upstream's retry.NewStandard retries them:
// the SDK's jitter b × 2^attempt s (b = 0.5 here: 1 s, then 2 s), on the lab
// clock: nothing happens until lab time passes, and each error is observed.
func TestThrottledCallsBackOffOnTheLabClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	tf := &throttleFirst{action: "DescribeInstanceTypes", n: 2}
	rec := &recorder{errs: map[string]int{}}
	c, _ := newClient(t, tf, clk, rec, Retry{Rand: func() float64 { return 0.5 }})
	done := make(chan error, 1)
	var lim InstanceLimits
	go func() {
		var err error
		lim, err = c.DescribeInstanceType(context.Background(), "m5.large")
		done <- err
	}()
	clk.BlockUntil(1)
	clk.Advance(time.Second)
	clk.BlockUntil(1)
	select {
	case err := <-done:
		t.Fatalf("returned before the second backoff passed: %v", err)
	default:
	}
	clk.Advance(2 * time.Second)
	require.NoError(t, <-done)
	assert.Equal(t, 3, lim.MaxENIs)
	assert.Equal(t, 10, lim.IPv4PerENI)
	assert.True(t, lim.SupportsPrefixes())
	require.Len(t, tf.calls, 3)
	assert.Equal(t, time.Second, tf.calls[1].Sub(tf.calls[0]))
	assert.Equal(t, 2*time.Second, tf.calls[2].Sub(tf.calls[1]))
	assert.Equal(t, 1, rec.calls, "observed once, retries included, as upstream's Ec2ApiReq counts an SDK call")
	assert.Empty(t, rec.errs, "the operation succeeded in the end")
	assert.Equal(t, []time.Duration{3 * time.Second}, rec.took, "its latency spans the back-offs")
}

// Client errors are not retried and keep their EC2 code; deleting an ENI
// that is already gone counts as done.
func TestClientErrorsAreNotRetried(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	c, _ := newClient(t, nil, clk, nil)
	_, err := c.AssignIPs(context.Background(), "eni-00000000000000bad", 1)
	require.Error(t, err)
	assert.Equal(t, "InvalidNetworkInterfaceID.NotFound", Code(err))
	assert.True(t, IsNotFound(err))
	require.NoError(t, c.DeleteENI(context.Background(), "eni-00000000000000bad"))
	_, err = c.DescribeInstanceType(context.Background(), "no.such-type")
	require.Error(t, err)
}

// Upstream's GetVpcSubnets filters DescribeSubnets on the VPC and the
// node's zone, and the subnet tags come back for the placement rules.
func TestSubnetsOfVPCAndZoneAsUpstreamGetVpcSubnets(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	c, srv := newClient(t, nil, clk, nil)
	vpc, err := srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
	require.NoError(t, err)
	for _, s := range []fakeec2.SubnetSpec{
		{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a", Tags: map[string]string{TagSubnetRoleCNI: "0"}},
		{ID: "subnet-b", CIDR: "10.0.2.0/24", AZ: "us-west-2b"},
	} {
		s.VPCID = vpc.ID
		_, err := srv.CreateSubnet(s)
		require.NoError(t, err)
	}
	subnets, err := c.Subnets(context.Background(), vpc.ID, "us-west-2a")
	require.NoError(t, err)
	require.Len(t, subnets, 1)
	assert.Equal(t, "subnet-a", subnets[0].ID)
	assert.Equal(t, "0", subnets[0].Tags[TagSubnetRoleCNI])
	all, err := c.Subnets(context.Background(), vpc.ID, "")
	require.NoError(t, err)
	assert.Len(t, all, 2)
}

// Upstream's awssession.New: retry.NewStandard with WithRetryMaxAttempts(10);
// an always-throttled call is tried 10 times, each back-off drawn by the
// SDK's jitter (never above its 20 s cap), and the retry quota (500 tokens,
// 5 per retry) stops retries once spent.
func TestStandardRetryerAttemptsAndQuota(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	tf := &throttleFirst{action: "DescribeInstanceTypes", n: 1 << 30}
	c, _ := newClient(t, tf, clk, nil)
	done := make(chan error, 1)
	go func() { _, err := c.DescribeInstanceType(context.Background(), "m5.large"); done <- err }()
	for range MaxAttempts - 1 {
		clk.BlockUntil(1)
		clk.Advance(20 * time.Second)
	}
	err := <-done
	require.Error(t, err)
	assert.Equal(t, CodeRequestLimitExceeded, Code(err))
	require.Len(t, tf.calls, MaxAttempts)
	for i := 1; i < len(tf.calls); i++ {
		assert.LessOrEqual(t, tf.calls[i].Sub(tf.calls[i-1]), 20*time.Second)
	}

	// 500 tokens / 5 per retry: after 100 retries the quota refuses more.
	calls := len(tf.calls)
	for range 11 {
		go func() { _, err := c.DescribeInstanceType(context.Background(), "m5.large"); done <- err }()
		for {
			if r := func() bool {
				select {
				case <-done:
					return true
				default:
					return false
				}
			}(); r {
				break
			}
			clk.Advance(20 * time.Second)
			time.Sleep(time.Millisecond)
		}
	}
	assert.Less(t, len(tf.calls)-calls, 11*MaxAttempts, "the retry quota cut retries short")
}

// Upstream's awsGetFreeDeviceNumber: the lowest device index no attached ENI
// of the card uses, as DescribeInstances shows it (a gap is reused).
func TestFreeDeviceIndexFromDescribeInstances(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	c, srv := newClient(t, nil, clk, nil)
	vpc, err := srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
	require.NoError(t, err)
	sn, err := srv.CreateSubnet(fakeec2.SubnetSpec{ID: "subnet-a", VPCID: vpc.ID, CIDR: "10.0.0.0/20", AZ: "us-west-2a"})
	require.NoError(t, err)
	inst, err := srv.RunInstance(fakeec2.InstanceSpec{Type: "m5.large", SubnetID: sn.ID})
	require.NoError(t, err)
	ctx := context.Background()
	free, err := c.FreeDeviceIndex(ctx, inst.ID, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, free, "device 0 is the primary ENI")
	attach := func(device int) {
		e, err := c.CreateENI(ctx, CreateSpec{SubnetID: sn.ID})
		require.NoError(t, err)
		_, err = c.AttachENI(ctx, e.ID, inst.ID, device)
		require.NoError(t, err)
	}
	attach(2)
	free, err = c.FreeDeviceIndex(ctx, inst.ID, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, free, "the gap below device 2")
	attach(1)
	free, err = c.FreeDeviceIndex(ctx, inst.ID, 0)
	require.NoError(t, err)
	assert.Equal(t, 3, free)
	_, err = c.FreeDeviceIndex(ctx, "i-nope", 0)
	require.Error(t, err)
}

// paramRecorder keeps the parameters of every call to one action.
type paramRecorder struct {
	mu     sync.Mutex
	action string
	params []map[string][]string
}

func (r *paramRecorder) Before(c fakeec2.Call) fakeec2.Verdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.Action == r.action {
		r.params = append(r.params, c.Params)
	}
	return fakeec2.Verdict{}
}

func (r *paramRecorder) After(fakeec2.Call, fakeec2.Verdict, fakeec2.Outcome) {}

// Upstream's freeENI sends DetachNetworkInterfaceInput with the attachment
// id only: no Force.
func TestDetachENISendsNoForce_UpstreamFreeENI(t *testing.T) {
	rec := &paramRecorder{action: "DetachNetworkInterface"}
	c, _ := newClient(t, rec, clock.NewFake(time.Unix(0, 0)), nil)
	_ = c.DetachENI(context.Background(), "eni-attach-0123")
	require.Len(t, rec.params, 1)
	assert.Equal(t, []string{"eni-attach-0123"}, rec.params[0]["AttachmentId"])
	assert.NotContains(t, rec.params[0], "Force")
}
