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
	mu   sync.Mutex
	errs map[string]int
}

func (r *recorder) ObserveEC2(action string, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errs[Code(err)]++
	}
}

func newClient(t *testing.T, ic fakeec2.Interceptor, clk clock.Clock, obs Observer) (*EC2, *fakeec2.Server) {
	srv, err := fakeec2.New(fakeec2.Config{Clock: clk, Interceptor: ic})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	api := ec2.New(ec2.Options{
		Region: "us-west-2", BaseEndpoint: aws.String(hs.URL), Retryer: aws.NopRetryer{}, HTTPClient: awshttp.New(),
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
	})
	return NewEC2(api, clk, slog.New(slog.NewTextHandler(io.Discard, nil)), obs, Retry{}), srv
}

// Throttled calls are retried with exponential backoff on the lab clock:
// nothing happens until lab time passes, and each error is observed.
func TestThrottledCallsBackOffOnTheLabClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	tf := &throttleFirst{action: "DescribeInstanceTypes", n: 2}
	rec := &recorder{errs: map[string]int{}}
	c, _ := newClient(t, tf, clk, rec)
	done := make(chan error, 1)
	var lim InstanceLimits
	go func() {
		var err error
		lim, err = c.DescribeInstanceType(context.Background(), "m5.large")
		done <- err
	}()
	clk.BlockUntil(1)
	clk.Advance(500 * time.Millisecond)
	clk.BlockUntil(1)
	select {
	case err := <-done:
		t.Fatalf("returned before the second backoff passed: %v", err)
	default:
	}
	clk.Advance(time.Second)
	require.NoError(t, <-done)
	assert.Equal(t, 3, lim.MaxENIs)
	assert.Equal(t, 10, lim.IPv4PerENI)
	assert.True(t, lim.SupportsPrefixes())
	require.Len(t, tf.calls, 3)
	assert.Equal(t, 500*time.Millisecond, tf.calls[1].Sub(tf.calls[0]))
	assert.Equal(t, time.Second, tf.calls[2].Sub(tf.calls[1]))
	assert.Equal(t, 2, rec.errs["RequestLimitExceeded"])
}

// Client errors are not retried and keep their EC2 code; deleting an ENI
// that is already gone counts as done.
func TestClientErrorsAreNotRetried(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	c, _ := newClient(t, nil, clk, nil)
	_, err := c.AssignIPs(context.Background(), "eni-nope", 1)
	require.Error(t, err)
	assert.Equal(t, "InvalidNetworkInterfaceID.NotFound", Code(err))
	assert.True(t, IsNotFound(err))
	require.NoError(t, c.DeleteENI(context.Background(), "eni-nope"))
	_, err = c.DescribeInstanceType(context.Background(), "no.such-type")
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
