package chaos

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/clock"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// call runs one request through c the way the server does: Before, then
// an answer shaped by the verdict, then After. It returns the error code
// ("" on success).
func call(c *Controller, clk clock.Clock, action string, params url.Values) (string, fakeec2.Verdict) {
	if params == nil {
		params = url.Values{}
	}
	params.Set("Action", action)
	cl := fakeec2.Call{Action: action, Params: params, Time: clk.Now(), Attempt: 1}
	v := c.Before(cl)
	out := fakeec2.Outcome{Status: 200, Latency: v.Latency}
	if v.Err != nil {
		out.Status, out.Code = v.Err.Status, v.Err.Code
	}
	c.After(cl, v, out)
	return out.Code, v
}

func newController(t *testing.T, cfg Config) (*Controller, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	cfg.Clock = clk
	c, err := New(cfg)
	require.NoError(t, err)
	return c, clk
}

// burst counts how many calls in a row succeed before the first throttle.
func burst(c *Controller, clk clock.Clock, action string, params func() url.Values, limit int) int {
	for i := 0; i < limit; i++ {
		var p url.Values
		if params != nil {
			p = params()
		}
		if code, _ := call(c, clk, action, p); code == "RequestLimitExceeded" {
			return i
		}
	}
	return limit
}

func TestAWSBucketsMatchTheDocumentedTable(t *testing.T) {
	for _, tc := range []struct {
		action           string
		params           url.Values
		capacity, refill int
	}{
		{"DescribeNetworkInterfaces", nil, 50, 10},
		{"DescribeInstances", nil, 50, 10},
		{"DescribeNetworkInterfaces", url.Values{"Filter.1.Name": {"vpc-id"}, "Filter.1.Value.1": {"vpc-1"}}, 100, 20},
		{"DescribeNetworkInterfaces", url.Values{"MaxResults": {"5"}}, 100, 20},
		{"DescribeInstances", url.Values{"InstanceId.1": {"i-1"}}, 100, 20},
		{"DescribeSubnets", nil, 100, 20},
		{"AttachNetworkInterface", nil, 50, 5},
		{"DetachNetworkInterface", nil, 50, 5},
		{"AssignPrivateIpAddresses", nil, 100, 5},
		{"UnassignPrivateIpAddresses", nil, 100, 5},
		{"CreateNetworkInterface", nil, 100, 5},
		{"DeleteNetworkInterface", nil, 100, 5},
		{"ModifyNetworkInterfaceAttribute", nil, 100, 5},
		{"CreateTags", nil, 100, 10},
		{"RunInstances", nil, 5, 2},
	} {
		t.Run(fmt.Sprintf("%s%v", tc.action, tc.params), func(t *testing.T) {
			c, clk := newController(t, Config{})
			params := func() url.Values {
				p := url.Values{}
				for k, v := range tc.params {
					p[k] = v
				}
				return p
			}
			assert.Equal(t, tc.capacity, burst(c, clk, tc.action, params, 1000), "burst capacity")
			clk.Advance(999 * time.Millisecond)
			assert.Equal(t, 0, burst(c, clk, tc.action, params, 1000), "nothing refills within the second")
			clk.Advance(time.Millisecond)
			assert.Equal(t, tc.refill, burst(c, clk, tc.action, params, 1000), "refill per second")
			clk.Advance(time.Hour)
			assert.Equal(t, tc.capacity, burst(c, clk, tc.action, params, 1000), "refill stops at capacity")
		})
	}
}

func TestUnfilteredDescribeHasItsOwnBucket(t *testing.T) {
	c, clk := newController(t, Config{})
	assert.Equal(t, 50, burst(c, clk, "DescribeNetworkInterfaces", nil, 100))
	filtered := func() url.Values { return url.Values{"NetworkInterfaceId.1": {"eni-1"}} }
	assert.Equal(t, 100, burst(c, clk, "DescribeNetworkInterfaces", filtered, 200), "an ids call still has its own 100 tokens")
	assert.Equal(t, 100, burst(c, clk, "DescribeSubnets", nil, 200), "other actions are untouched")
}

func TestThrottleModes(t *testing.T) {
	c, clk := newController(t, Config{Throttle: ThrottleNone})
	assert.Equal(t, 500, burst(c, clk, "RunInstances", nil, 500))

	c, clk = newController(t, Config{Throttle: ThrottleCustom(map[string]Bucket{
		"RunInstances":              {Capacity: 2, Refill: 1},
		"DescribeNetworkInterfaces": {Capacity: 3, Refill: 1},
	})})
	assert.Equal(t, 2, burst(c, clk, "RunInstances", nil, 100))
	assert.Equal(t, 3, burst(c, clk, "DescribeNetworkInterfaces", nil, 100), "a custom action entry covers its unfiltered calls")
	assert.Equal(t, 50, burst(c, clk, "AttachNetworkInterface", nil, 100), "unlisted actions keep AWS defaults")
	clk.Advance(time.Second)
	assert.Equal(t, 1, burst(c, clk, "RunInstances", nil, 100))
	assert.Equal(t, 1, c.Counters().ByAction["RunInstances"].Calls-c.Counters().ByAction["RunInstances"].Throttled-2)
}

func TestParseThrottle(t *testing.T) {
	th, err := ParseThrottle("RunInstances=5/2, DescribeNetworkInterfaces/unfiltered=20/4")
	require.NoError(t, err)
	assert.Equal(t, map[string]Bucket{"RunInstances": {5, 2}, "DescribeNetworkInterfaces/unfiltered": {20, 4}}, th.Buckets())
	assert.Equal(t, "DescribeNetworkInterfaces/unfiltered=20/4,RunInstances=5/2", th.String())
	for _, s := range []string{"aws", "none"} {
		th, err := ParseThrottle(s)
		require.NoError(t, err)
		assert.Equal(t, s, th.String())
	}
	_, err = ParseThrottle("RunInstances=0/2,bogus,describe=1/1")
	require.Error(t, err)
	for _, want := range []string{"RunInstances: capacity must be at least 1", `"bogus"`, `"describe": not an EC2 action name`} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestRuleKindsAnswerWithEC2Errors(t *testing.T) {
	for kind, want := range map[string]fakeec2.Error{
		"internal":                          {Code: "InternalError", Status: 500},
		"throttle":                          {Code: "RequestLimitExceeded", Status: 503, Message: "Request limit exceeded."},
		"unavailable":                       {Code: "Unavailable", Status: 503},
		"InsufficientFreeAddressesInSubnet": {Code: "InsufficientFreeAddressesInSubnet", Status: 400},
		"UnauthorizedOperation":             {Code: "UnauthorizedOperation", Status: 403},
	} {
		c, clk := newController(t, Config{Faults: []Rule{{Kind: kind}}})
		_, v := call(c, clk, "CreateNetworkInterface", nil)
		require.NotNil(t, v.Err, kind)
		assert.Equal(t, want.Code, v.Err.Code, kind)
		assert.Equal(t, want.Status, v.Err.Status, kind)
		assert.NotEmpty(t, v.Err.Message, kind)
		if want.Message != "" {
			assert.Equal(t, want.Message, v.Err.Message)
		}
		assert.Equal(t, "rule-1", v.Fault)
	}
}

func TestRuleWindowAfterAndCount(t *testing.T) {
	c, clk := newController(t, Config{Throttle: ThrottleNone, Faults: []Rule{
		{Name: "third-and-fourth", Kind: "internal", Operations: []string{"AttachNetworkInterface"}, After: 2, Count: 2},
	}})
	var got []string
	for i := 0; i < 6; i++ {
		call(c, clk, "DescribeSubnets", nil) // other actions do not count
		code, _ := call(c, clk, "AttachNetworkInterface", nil)
		got = append(got, code)
	}
	assert.Equal(t, []string{"", "", "InternalError", "InternalError", "", ""}, got)
	st := c.RuleStates()
	require.Len(t, st, 1)
	assert.Equal(t, 2, st[0].Injected)
	assert.False(t, st[0].Active, "a rule whose count is spent is not active")
}

func TestRuleWindowStartAndDuration(t *testing.T) {
	c, clk := newController(t, Config{Throttle: ThrottleNone, Faults: []Rule{
		{Kind: "unavailable", Start: 10 * time.Second, Duration: 5 * time.Second},
	}})
	codeAt := func(at time.Duration) string {
		clk.Set(t0.Add(at))
		code, _ := call(c, clk, "DescribeVpcs", nil)
		return code
	}
	assert.Equal(t, "", codeAt(9*time.Second))
	assert.Equal(t, "Unavailable", codeAt(10*time.Second))
	assert.Equal(t, "Unavailable", codeAt(14*time.Second+999*time.Millisecond))
	assert.Equal(t, "", codeAt(15*time.Second))

	// A rule added later opens when it is added and lasts its duration from there.
	_, err := c.AddRule(Rule{Name: "late", Kind: "throttle", Duration: 3 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "RequestLimitExceeded", codeAt(17*time.Second))
	assert.Equal(t, "", codeAt(18*time.Second))
}

func TestPercentageIsSeededAndPerAction(t *testing.T) {
	rule := Rule{Kind: "internal", Operations: []string{"AssignPrivateIpAddresses"}, Percentage: 30}
	run := func(seed int64, noise bool) []string {
		c, clk := newController(t, Config{Seed: seed, Throttle: ThrottleNone, Faults: []Rule{rule}})
		var got []string
		for i := 0; i < 200; i++ {
			if noise && i%3 == 0 {
				call(c, clk, "DescribeNetworkInterfaces", nil)
			}
			code, _ := call(c, clk, "AssignPrivateIpAddresses", nil)
			got = append(got, code)
		}
		return got
	}
	a := run(42, false)
	assert.Equal(t, a, run(42, false), "same seed, same calls: same faults")
	assert.Equal(t, a, run(42, true), "calls to other actions do not shift the sequence")
	assert.NotEqual(t, a, run(43, false), "another seed gives another sequence")
	failed := 0
	for _, code := range a {
		if code == "InternalError" {
			failed++
		}
	}
	assert.InDelta(t, 60, failed, 20, "about 30%% of 200 calls fail")
}

func TestLatencyFixedAndRange(t *testing.T) {
	c, clk := newController(t, Config{Throttle: ThrottleNone, Latency: map[string]Latency{
		"AttachNetworkInterface":   {Min: 3 * time.Second, Max: 10 * time.Second},
		"AssignPrivateIpAddresses": {Min: time.Second, Max: time.Second},
	}})
	seen := map[time.Duration]bool{}
	var first []time.Duration
	for i := 0; i < 100; i++ {
		_, v := call(c, clk, "AttachNetworkInterface", nil)
		assert.GreaterOrEqual(t, v.Latency, 3*time.Second)
		assert.LessOrEqual(t, v.Latency, 10*time.Second)
		seen[v.Latency] = true
		first = append(first, v.Latency)
		_, v = call(c, clk, "AssignPrivateIpAddresses", nil)
		assert.Equal(t, time.Second, v.Latency)
		_, v = call(c, clk, "DescribeVpcs", nil)
		assert.Zero(t, v.Latency)
	}
	assert.Greater(t, len(seen), 50, "a range spreads latencies")

	c2, clk2 := newController(t, Config{Throttle: ThrottleNone, Latency: map[string]Latency{
		"AttachNetworkInterface": {Min: 3 * time.Second, Max: 10 * time.Second},
	}})
	for i := 0; i < 100; i++ {
		_, v := call(c2, clk2, "AttachNetworkInterface", nil)
		require.Equal(t, first[i], v.Latency, "call %d: same seed, same latency", i+1)
	}
}

func TestParseLatency(t *testing.T) {
	l, err := ParseLatency("3s-10s")
	require.NoError(t, err)
	assert.Equal(t, Latency{3 * time.Second, 10 * time.Second}, l)
	l, err = ParseLatency("500ms")
	require.NoError(t, err)
	assert.Equal(t, Latency{500 * time.Millisecond, 500 * time.Millisecond}, l)
	for _, bad := range []string{"", "10s-3s", "fast", "1s-x"} {
		_, err := ParseLatency(bad)
		assert.Error(t, err, bad)
	}
}

func TestAddAndRemoveRulesWhileRunning(t *testing.T) {
	c, clk := newController(t, Config{Throttle: ThrottleNone})
	code, _ := call(c, clk, "CreateTags", nil)
	assert.Empty(t, code)
	name, err := c.AddRule(Rule{Kind: "InvalidParameterValue", Operations: []string{"CreateTags"}})
	require.NoError(t, err)
	assert.Equal(t, "rule-1", name)
	code, _ = call(c, clk, "CreateTags", nil)
	assert.Equal(t, "InvalidParameterValue", code)
	_, err = c.AddRule(Rule{Name: name, Kind: "internal"})
	assert.ErrorContains(t, err, "already in use")
	_, err = c.AddRule(Rule{Kind: "internal", Percentage: 101})
	assert.ErrorContains(t, err, "percentage")
	assert.Len(t, c.Rules(), 1)
	assert.True(t, c.RemoveRule(name))
	assert.False(t, c.RemoveRule(name))
	code, _ = call(c, clk, "CreateTags", nil)
	assert.Empty(t, code)
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	err := Config{
		Throttle: ThrottleCustom(map[string]Bucket{"RunInstances": {Capacity: 0, Refill: -1}}),
		Latency:  map[string]Latency{"AttachNetworkInterface": {Min: 2 * time.Second, Max: time.Second}},
		Faults: []Rule{
			{Name: "a", Kind: "explode", Percentage: 200},
			{Name: "a", Kind: "internal", Operations: []string{"describe-vpcs"}, After: -1},
		},
		Replay: []Record{{Action: "DescribeVpcs", Call: 0}},
	}.Validate()
	require.Error(t, err)
	for _, want := range []string{
		"capacity must be at least 1", "refill must not be negative", "latency AttachNetworkInterface",
		`faults[0] (a): kind: "explode"`, "faults[0] (a): percentage: must be 1–100, got 200",
		`faults[1] (a): name "a" already used by faults[0]`, `operations[0]: "describe-vpcs"`,
		"after: must not be negative", `replay[0]: field "call": must be at least 1`,
	} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = New(Config{Faults: []Rule{{Kind: ""}}})
	assert.ErrorContains(t, err, "kind: required")
}

func TestTraceRecordsEveryRequest(t *testing.T) {
	var buf bytes.Buffer
	c, clk := newController(t, Config{Trace: &buf, Throttle: ThrottleCustom(map[string]Bucket{"AssignPrivateIpAddresses": {1, 1}})})
	clk.Advance(1500 * time.Millisecond)
	call(c, clk, "AssignPrivateIpAddresses", url.Values{"NetworkInterfaceId": {"eni-1"}, "SecondaryPrivateIpAddressCount": {"3"},
		"Version": {"2016-11-15"}, "Description": {"long stuff"}})
	call(c, clk, "AssignPrivateIpAddresses", url.Values{"NetworkInterfaceId": {"eni-1"}, "PrivateIpAddress.2": {"10.0.0.6"},
		"PrivateIpAddress.1": {"10.0.0.5"}, "PrivateIpAddress.10": {"10.0.0.7"}})
	call(c, clk, "DescribeNetworkInterfaces", url.Values{"Filter.1.Name": {"attachment.instance-id"}, "Filter.1.Value.1": {"i-1"},
		"Filter.2.Name": {"tag-key"}, "Filter.2.Value.1": {"a"}, "Filter.2.Value.2": {"b"}, "MaxResults": {"5"}})

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, `{"seq":1,"time":"2026-01-01T00:00:01.5Z","at":"1.5s","action":"AssignPrivateIpAddresses","call":1,"attempt":1,`+
		`"params":{"NetworkInterfaceId":"eni-1","SecondaryPrivateIpAddressCount":"3"},"status":200,"latency":"0s"}`, lines[0])
	assert.Equal(t, `{"seq":2,"time":"2026-01-01T00:00:01.5Z","at":"1.5s","action":"AssignPrivateIpAddresses","call":2,"attempt":1,`+
		`"params":{"NetworkInterfaceId":"eni-1","PrivateIpAddress":"10.0.0.5,10.0.0.6,10.0.0.7"},"status":503,`+
		`"code":"RequestLimitExceeded","fault":"throttle","message":"Request limit exceeded.","latency":"0s"}`, lines[1])
	assert.Contains(t, lines[2], `"params":{"Filter.1":"attachment.instance-id=i-1","Filter.2":"tag-key=a|b","MaxResults":"5"}`)
	assert.Equal(t, map[string]string{"NetworkInterfaceId": "eni-1", "Attachment.AttachmentId": "attach-1"},
		keyParams(url.Values{"NetworkInterfaceId": {"eni-1"}, "Attachment.AttachmentId": {"attach-1"}, "Attachment.DeleteOnTermination": {"true"}}))

	recs, err := LoadTrace(&buf)
	require.NoError(t, err)
	assert.Equal(t, c.Trace(), recs, "the trace file reads back as what Trace() holds")

	k := c.Counters()
	assert.Equal(t, 3, k.TotalCalls)
	assert.Equal(t, 1, k.Throttled)
	assert.Equal(t, 0, k.FaultsInjected, "bucket throttling is not an injected fault")
	assert.Equal(t, map[string]int{"RequestLimitExceeded": 1}, k.Errors)
	assert.Equal(t, ActionCounters{Calls: 2, Throttled: 1, Errors: 1}, k.ByAction["AssignPrivateIpAddresses"])
}

func TestTraceLimitKeepsNewest(t *testing.T) {
	c, clk := newController(t, Config{TraceLimit: 3, Throttle: ThrottleNone})
	for i := 0; i < 10; i++ {
		call(c, clk, "DescribeVpcs", nil)
	}
	tr := c.Trace()
	require.Len(t, tr, 3)
	assert.Equal(t, []int{8, 9, 10}, []int{tr[0].Call, tr[1].Call, tr[2].Call})
}

// Concurrent requests finish out of order; After must still pair with the
// Before of the same request (its call number and fault).
func TestAfterPairsWithItsBeforeOutOfOrder(t *testing.T) {
	c, clk := newController(t, Config{Throttle: ThrottleNone, Faults: []Rule{{Kind: "internal", After: 1, Count: 1}}})
	p1, p2, p3 := url.Values{"Action": {"A"}}, url.Values{"Action": {"A"}}, url.Values{"Action": {"A"}}
	c1 := fakeec2.Call{Action: "AttachNetworkInterface", Params: p1, Time: clk.Now()}
	c2 := fakeec2.Call{Action: "AttachNetworkInterface", Params: p2, Time: clk.Now()}
	c3 := fakeec2.Call{Action: "AttachNetworkInterface", Params: p3, Time: clk.Now()}
	v1, v2, v3 := c.Before(c1), c.Before(c2), c.Before(c3)
	require.Nil(t, v1.Err)
	require.NotNil(t, v2.Err)
	c.After(c3, v3, fakeec2.Outcome{Status: 200})
	c.After(c2, v2, fakeec2.Outcome{Status: 500, Code: "InternalError"})
	c.After(c1, v1, fakeec2.Outcome{Status: 200})
	tr := c.Trace()
	require.Len(t, tr, 3)
	assert.Equal(t, []int{3, 2, 1}, []int{tr[0].Call, tr[1].Call, tr[2].Call})
	assert.Equal(t, "rule-1", tr[1].Fault)
	assert.Empty(t, tr[0].Fault)
}

func TestConcurrentUseIsSafe(t *testing.T) {
	c, clk := newController(t, Config{Faults: []Rule{{Kind: "internal", Percentage: 10}}, Latency: map[string]Latency{"CreateTags": {0, time.Second}}})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				call(c, clk, "CreateTags", nil)
				if i%50 == 0 {
					c.Counters()
					c.Trace()
				}
			}
		}()
	}
	wg.Wait()
	k := c.Counters()
	assert.Equal(t, 1600, k.TotalCalls)
	calls := map[int]bool{}
	for _, r := range c.Trace() {
		calls[r.Call] = true
	}
	assert.Len(t, calls, 1600, "every request has its own call number")
}

// With a scaled clock, a lab second of refill takes a tenth of a real one:
// buckets run on lab time, not wall time.
func TestBucketsRefillOnScaledLabTime(t *testing.T) {
	clk := clock.NewScaled(0.1, t0)
	c, err := New(Config{Clock: clk, Throttle: ThrottleCustom(map[string]Bucket{"RunInstances": {Capacity: 1, Refill: 1}})})
	require.NoError(t, err)
	code, _ := call(c, clk, "RunInstances", nil)
	require.Empty(t, code)
	code, _ = call(c, clk, "RunInstances", nil)
	require.Equal(t, "RequestLimitExceeded", code, "the only token is gone")
	require.NoError(t, clock.Sleep(context.Background(), clk, time.Second))
	code, _ = call(c, clk, "RunInstances", nil)
	assert.Empty(t, code, "one lab second later a token is back")
}

func TestAfterWithoutBeforeIsStillTraced(t *testing.T) {
	c, clk := newController(t, Config{})
	c.After(fakeec2.Call{Action: "DescribeVpcs", Time: clk.Now()}, fakeec2.Verdict{}, fakeec2.Outcome{Status: 200})
	var buf bytes.Buffer
	for _, r := range c.Trace() {
		buf.Write(r.appendJSON(nil))
	}
	recs, err := LoadTrace(&buf)
	require.NoError(t, err, "a trace with such a record still loads")
	require.Len(t, recs, 1)
	assert.Equal(t, 1, recs[0].Call)
}

func TestLoadFilesNameThePath(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "faults.yaml")
	require.NoError(t, os.WriteFile(p, []byte("- kind: internal\n  percentage: 300\n"), 0o644))
	_, err := LoadFaultsFile(p)
	assert.ErrorContains(t, err, p+": rule 1: line 2: percentage: must be 1–100, got 300")
	p = filepath.Join(dir, "trace.jsonl")
	require.NoError(t, os.WriteFile(p, []byte(`{"action":"X","call":0}`+"\n"), 0o644))
	_, err = LoadTraceFile(p)
	assert.ErrorContains(t, err, p+`: line 1: field "call": must be at least 1, got 0`)
	_, err = LoadTraceFile(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// The server may run its clock from another epoch than the controller's
// (a lab's scaled clock, the controller's own); windows and buckets follow
// the controller's clock, and the trace keeps the server's arrival time.
func TestControllerClockGovernsWhateverTheServerEpoch(t *testing.T) {
	c, clk := newController(t, Config{Throttle: ThrottleCustom(map[string]Bucket{"RunInstances": {1, 1}}),
		Faults: []Rule{{Kind: "internal", Operations: []string{"CreateTags"}, Start: time.Second, Duration: time.Second}}})
	server := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
	do := func(action string) string {
		cl := fakeec2.Call{Action: action, Params: url.Values{}, Time: server}
		v := c.Before(cl)
		out := fakeec2.Outcome{Status: 200}
		if v.Err != nil {
			out.Status, out.Code = v.Err.Status, v.Err.Code
		}
		c.After(cl, v, out)
		return out.Code
	}
	assert.Equal(t, "", do("RunInstances"))
	assert.Equal(t, "RequestLimitExceeded", do("RunInstances"))
	assert.Equal(t, "", do("CreateTags"))
	clk.Advance(time.Second)
	assert.Equal(t, "", do("RunInstances"), "refilled after a second of the controller's clock")
	assert.Equal(t, "InternalError", do("CreateTags"), "window open from 1s")
	tr := c.Trace()
	assert.Equal(t, server, tr[len(tr)-1].Time)
	assert.Equal(t, time.Second, tr[len(tr)-1].At)
}

// An After without a Before must not take over the Before of another
// request still in flight (its call number and fault).
func TestAfterWithoutBeforeLeavesOthersAlone(t *testing.T) {
	c, clk := newController(t, Config{Throttle: ThrottleNone, Faults: []Rule{{Kind: "internal", Count: 1}}})
	inFlight := fakeec2.Call{Action: "CreateTags", Params: url.Values{}, Time: clk.Now()}
	v := c.Before(inFlight)
	require.NotNil(t, v.Err)
	c.After(fakeec2.Call{Action: "CreateTags", Params: url.Values{}, Time: clk.Now()}, fakeec2.Verdict{}, fakeec2.Outcome{Status: 200})
	c.After(inFlight, v, fakeec2.Outcome{Status: 500, Code: "InternalError"})
	tr := c.Trace()
	require.Len(t, tr, 2)
	assert.Equal(t, 2, tr[0].Call, "the stray After gets a number of its own")
	assert.Empty(t, tr[0].Fault)
	assert.Equal(t, 1, tr[1].Call)
	assert.Equal(t, "rule-1", tr[1].Fault)
}

// Requests whose Action is no action at all (the server refuses them) are
// traced under an empty action, so that the trace loads again for replay
// and a long junk name is not kept per request.
func TestJunkActionsStillGiveALoadableTrace(t *testing.T) {
	var buf bytes.Buffer
	c, clk := newController(t, Config{Trace: &buf})
	for _, a := range []string{"<Bad>", strings.Repeat("A", 100000), "", "DescribeVpcs"} {
		call(c, clk, a, nil)
	}
	recs, err := LoadTrace(&buf)
	require.NoError(t, err, "a trace the controller wrote loads")
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s#%d", r.Action, r.Call))
	}
	assert.Equal(t, []string{"#1", "#2", "#3", "DescribeVpcs#1"}, got)
}
