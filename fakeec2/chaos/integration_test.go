package chaos_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/fakeec2/chaos"
	"github.com/enilab/enilab/internal/awscli"
	"github.com/enilab/enilab/internal/awshttp"
	"github.com/enilab/enilab/internal/clock"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type lab struct {
	ctrl   *chaos.Controller
	ec2    *fakeec2.Server
	url    string
	eni    string // primary ENI of one m5.24xlarge instance
	subnet string // 10.0.0.0/20, the instance's
}

// newLab serves a fakeec2 with ctrl in front of it, the chaos admin API at
// /admin/ beside it, and one instance to work on.
func newLab(t *testing.T, clk clock.Clock, cfg chaos.Config) *lab {
	t.Helper()
	cfg.Clock = clk
	ctrl, err := chaos.New(cfg)
	require.NoError(t, err)
	srv, err := fakeec2.New(fakeec2.Config{Interceptor: ctrl, Clock: clk, Seed: 1})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	vpc, err := srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
	require.NoError(t, err)
	sn, err := srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: vpc.ID, CIDR: "10.0.0.0/20", AZ: "us-west-2a"})
	require.NoError(t, err)
	in, err := srv.RunInstance(fakeec2.InstanceSpec{Type: "m5.24xlarge", SubnetID: sn.ID})
	require.NoError(t, err)
	require.NotEmpty(t, in.ENIs)
	mux := http.NewServeMux()
	mux.Handle("/admin/", ctrl.AdminHandler())
	mux.Handle("/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &lab{ctrl: ctrl, ec2: srv, url: hs.URL, eni: in.ENIs[0].ID, subnet: sn.ID}
}

// client is an unmodified SDK client; retryer nil means no retries.
func (l *lab) client(retryer aws.Retryer) *ec2.Client {
	if retryer == nil {
		retryer = aws.NopRetryer{}
	}
	return ec2.New(ec2.Options{
		Region:       "us-west-2",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLAB", "secret", ""),
		BaseEndpoint: aws.String(l.url),
		Retryer:      retryer,
		HTTPClient:   awshttp.New(),
	})
}

func code(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "non-API error: " + err.Error()
}

func TestSDKSeesDescribeThrottlingAndRefill(t *testing.T) {
	clk := clock.NewFake(start)
	l := newLab(t, clk, chaos.Config{}) // AWS buckets
	c := l.client(nil)
	ctx := context.Background()
	var codes []string
	for i := 0; i < 60; i++ {
		_, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{})
		codes = append(codes, code(err))
	}
	for i, got := range codes {
		if i < 50 {
			assert.Empty(t, got, "call %d fits the 50-token unfiltered bucket", i+1)
		} else {
			assert.Equal(t, "RequestLimitExceeded", got, "call %d finds the bucket empty", i+1)
		}
	}
	// A filtered call has its own bucket and still goes through.
	_, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{l.eni}})
	require.NoError(t, err)

	clk.Advance(time.Second) // 10 tokens come back
	var after []string
	for i := 0; i < 11; i++ {
		_, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{})
		after = append(after, code(err))
	}
	assert.Equal(t, append(make([]string, 10), "RequestLimitExceeded"), after)

	k := l.ctrl.Counters()
	assert.Equal(t, 11, k.Throttled)
	assert.Equal(t, chaos.ActionCounters{Calls: 72, Throttled: 11, Errors: 11}, k.ByAction["DescribeNetworkInterfaces"])
}

// The SDK's standard retryer rides out a two-second throttle window: its
// backoff is spent in lab time (the delayer advances the fake clock), and
// the trace shows each attempt.
func TestSDKStandardRetryerRecoversFromShortThrottleWindow(t *testing.T) {
	clk := clock.NewFake(start)
	l := newLab(t, clk, chaos.Config{Faults: []chaos.Rule{{
		Name: "brownout", Kind: "throttle", Operations: []string{"AssignPrivateIpAddresses"}, Duration: 2 * time.Second,
	}}})
	var waits []int
	r := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 5
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(attempt int, err error) (time.Duration, error) {
			waits = append(waits, attempt)
			clk.Advance(time.Second)
			return 0, nil
		})
	})
	out, err := l.client(r).AssignPrivateIpAddresses(context.Background(), &ec2.AssignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(l.eni), SecondaryPrivateIpAddressCount: aws.Int32(2),
	})
	require.NoError(t, err, "the retryer outlasts the window")
	assert.Len(t, out.AssignedPrivateIpAddresses, 2)
	assert.Equal(t, []int{1, 2}, waits)

	var got []string
	for _, rec := range l.ctrl.Trace() {
		got = append(got, fmt.Sprintf("attempt %d at %s: %d %s %s", rec.Attempt, rec.At, rec.Status, rec.Code, rec.Fault))
	}
	assert.Equal(t, []string{
		"attempt 1 at 0s: 503 RequestLimitExceeded brownout",
		"attempt 2 at 1s: 503 RequestLimitExceeded brownout",
		"attempt 3 at 2s: 200  ",
	}, got)
	eni, ok := l.ec2.ENI(l.eni)
	require.True(t, ok)
	assert.Len(t, eni.SecondaryIPs, 2, "only the successful attempt assigned addresses")
}

// assignRun makes 30 single-attempt AssignPrivateIpAddresses calls, with
// DescribeNetworkInterfaces calls in between, and returns the codes.
func assignRun(t *testing.T, cfg chaos.Config) ([]string, *lab) {
	clk := clock.NewFake(start)
	l := newLab(t, clk, cfg)
	c := l.client(nil)
	ctx := context.Background()
	var codes []string
	for i := 0; i < 30; i++ {
		_, err := c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{
			NetworkInterfaceId: aws.String(l.eni), SecondaryPrivateIpAddressCount: aws.Int32(1),
		})
		codes = append(codes, "Assign:"+code(err))
		if i%4 == 0 {
			_, err = c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{l.eni}})
			codes = append(codes, "Describe:"+code(err))
		}
	}
	return codes, l
}

// goldenSeed42 are the AssignPrivateIpAddresses calls (numbered from 1)
// that a 30 % internal rule fails with seed 42.
var goldenSeed42 = []int{5, 6, 11, 15, 18, 23, 27, 29}

func TestSDKSeededFaultGivesSameOutcomesEveryRun(t *testing.T) {
	cfg := chaos.Config{Seed: 42, Faults: []chaos.Rule{
		{Kind: "internal", Operations: []string{"AssignPrivateIpAddresses"}, Percentage: 30},
	}}
	first, _ := assignRun(t, cfg)
	second, _ := assignRun(t, cfg)
	assert.Equal(t, first, second)
	failed := strings.Count(strings.Join(first, " "), "Assign:InternalError")
	assert.Positive(t, failed, "some calls fail")
	assert.Less(t, failed, 20, "most calls succeed")
	// The draws are a pure function of seed, action and call number, so
	// the failing calls are fixed across runs, processes and versions: a
	// seed in a bug report keeps meaning the same failures.
	var failing []int
	n := 0
	for _, o := range first {
		if strings.HasPrefix(o, "Assign:") {
			n++
			if o == "Assign:InternalError" {
				failing = append(failing, n)
			}
		}
	}
	assert.Equal(t, goldenSeed42, failing)
}

func TestSDKReplayReproducesRecordedErrors(t *testing.T) {
	var trace bytes.Buffer
	recorded, _ := assignRun(t, chaos.Config{Seed: 5, Trace: &trace,
		Throttle: chaos.ThrottleCustom(map[string]chaos.Bucket{"DescribeNetworkInterfaces": {Capacity: 3, Refill: 1}}),
		Faults: []chaos.Rule{
			{Kind: "internal", Operations: []string{"AssignPrivateIpAddresses"}, Percentage: 30},
			{Kind: "InsufficientFreeAddressesInSubnet", Operations: []string{"AssignPrivateIpAddresses"}, After: 20, Count: 2},
		}})
	joined := strings.Join(recorded, " ")
	require.Contains(t, joined, "Assign:InternalError")
	require.Contains(t, joined, "Assign:InsufficientFreeAddressesInSubnet")
	require.Contains(t, joined, "Describe:RequestLimitExceeded")

	recs, err := chaos.LoadTrace(&trace)
	require.NoError(t, err)
	replayed, l := assignRun(t, chaos.Config{Seed: 999, Throttle: chaos.ThrottleNone, Replay: recs})
	assert.Equal(t, recorded, replayed, "call for call")
	for _, rec := range l.ctrl.Trace() {
		assert.Equal(t, rec.Code != "", rec.Replayed, "call %d of %s", rec.Call, rec.Action)
	}
}

func TestAWSCLISurfacesThrottleAfterItsRetries(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the CLI backs off in real time (a few seconds)")
	}
	cli := awscli.Path()
	if cli == "" {
		t.Skip(awscli.Missing)
	}
	l := newLab(t, clock.Real{}, chaos.Config{Faults: []chaos.Rule{
		{Kind: "throttle", Operations: []string{"DescribeNetworkInterfaces"}, Percentage: 100},
	}})
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "--endpoint-url", l.url, "ec2", "describe-network-interfaces")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_ACCESS_KEY_ID=AKIDLAB", "AWS_SECRET_ACCESS_KEY=secret", "AWS_DEFAULT_REGION=us-west-2",
		"AWS_MAX_ATTEMPTS=3", "AWS_RETRY_MODE=standard", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true",
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the CLI fails; stderr: %s", stderr.String())
	assert.Contains(t, stderr.String(), "RequestLimitExceeded")
	assert.Contains(t, stderr.String(), "reached max retries: 2")

	var attempts []int
	for _, rec := range l.ctrl.Trace() {
		require.Equal(t, "RequestLimitExceeded", rec.Code)
		attempts = append(attempts, rec.Attempt)
	}
	require.Len(t, attempts, 3, "AWS_MAX_ATTEMPTS=3: the trace holds every attempt")
	// Debian's aws-cli 2.9 bundles a botocore that sends no amz-sdk-request
	// header, so its attempts are unnumbered (0); newer CLIs number them.
	if attempts[0] != 0 {
		assert.Equal(t, []int{1, 2, 3}, attempts)
	}
	k := l.ctrl.Counters()
	assert.Equal(t, 3, k.Throttled)
	assert.Equal(t, 3, k.FaultsInjected)
}
