package chaos

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/enilab/enilab/internal/clock"
)

func TestLoadFaultsYAMLAndFISStyle(t *testing.T) {
	rules, err := LoadFaults(strings.NewReader(`
faults:
  - name: assign-flaky
    kind: internal
    operations: [AssignPrivateIpAddresses]
    percentage: 30
    after: 2
    count: 10
  - kind: throttle
    operations: "DescribeNetworkInterfaces, AttachNetworkInterface"
    percentage: "50"
    start: 1m
    duration: 30s
  - kind: InvalidNetworkInterfaceID.NotFound
    message: "The networkInterface ID 'eni-1' does not exist"
`))
	require.NoError(t, err)
	assert.Equal(t, []Rule{
		{Name: "assign-flaky", Kind: "internal", Operations: []string{"AssignPrivateIpAddresses"}, Percentage: 30, After: 2, Count: 10},
		{Kind: "throttle", Operations: []string{"DescribeNetworkInterfaces", "AttachNetworkInterface"}, Percentage: 50,
			Start: time.Minute, Duration: 30 * time.Second},
		{Kind: "InvalidNetworkInterfaceID.NotFound", Message: "The networkInterface ID 'eni-1' does not exist"},
	}, rules)
}

func TestLoadFaultsJSONWithTabs(t *testing.T) {
	rules, err := LoadFaults(strings.NewReader("[\n\t{\n\t\t\"kind\": \"unavailable\",\n\t\t\"operations\": [\"CreateTags\"],\n\t\t\"duration\": \"5s\"\n\t}\n]\n"))
	require.NoError(t, err)
	assert.Equal(t, []Rule{{Kind: "unavailable", Operations: []string{"CreateTags"}, Duration: 5 * time.Second}}, rules)

	// A rule written by MarshalJSON reads back.
	in := Rule{Name: "x", Kind: "internal", Operations: []string{"RunInstances"}, Percentage: 5, Start: time.Second, Duration: time.Minute, Count: 3}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	var out Rule
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in, out)
}

func TestLoadFaultsErrorsNameLineAndField(t *testing.T) {
	_, err := LoadFaults(strings.NewReader(`- name: a
  kind: internal
  percentage: 0
- name: a
  kind: Explode!
  operations: [describe_vpcs]
  duration: 30
  colour: red
- kind: throttle
  after: many
`))
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"rule 1 (a): line 3: percentage: must be 1–100, got 0",
		`rule 2 (a): line 4: name: "a" already used by the rule on line 1`,
		`rule 2 (a): line 7: duration: want a duration like "30s" or "1m30s", got "30"`,
		`rule 2 (a): line 8: colour: unknown field`,
		`rule 2 (a): line 5: kind: "Explode!" is neither`,
		`rule 2 (a): line 6: operations[0]: "describe_vpcs" is not an EC2 action name`,
		`rule 3: line 10: after: want a whole number, got "many"`,
	} {
		assert.Contains(t, msg, want)
	}
	_, err = LoadFaults(strings.NewReader("kind: internal\n"))
	assert.ErrorContains(t, err, `line 1: unknown field "kind" (want a list of rules or faults: [...])`)
	_, err = LoadFaults(strings.NewReader("[{\"kind\": \"internal\",}"))
	assert.ErrorContains(t, err, "line 1")
	rules, err := LoadFaults(strings.NewReader(""))
	assert.NoError(t, err)
	assert.Empty(t, rules)
}

func TestScenarioTypesDecodeFromYAML(t *testing.T) {
	var ec2 struct {
		Throttle Throttle           `yaml:"throttle"`
		Latency  map[string]Latency `yaml:"latency"`
		Fault    Rule               `yaml:"fault"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(`
throttle: {RunInstances: {capacity: 10, refill: 1}}
latency: {AttachNetworkInterface: 3s-10s, AssignPrivateIpAddresses: 1s}
fault: {kind: throttle, operations: [AssignPrivateIpAddresses], percentage: 100, duration: 30s}
`), &ec2))
	assert.Equal(t, "RunInstances=10/1", ec2.Throttle.String())
	assert.Equal(t, Latency{3 * time.Second, 10 * time.Second}, ec2.Latency["AttachNetworkInterface"])
	assert.Equal(t, Rule{Kind: "throttle", Operations: []string{"AssignPrivateIpAddresses"}, Percentage: 100, Duration: 30 * time.Second}, ec2.Fault)

	require.NoError(t, yaml.Unmarshal([]byte("throttle: none\n"), &ec2))
	assert.Equal(t, "none", ec2.Throttle.String())
	err := yaml.Unmarshal([]byte("throttle:\n  RunInstances: {capacity: 0, refil: 1}\n"), &ec2)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `line 2: throttle RunInstances: unknown field "refil"`)
	err = yaml.Unmarshal([]byte("latency: {AttachNetworkInterface: slow}\n"), &ec2)
	assert.ErrorContains(t, err, `line 1: latency: want a duration`)

	var j struct{ Throttle Throttle }
	require.NoError(t, json.Unmarshal([]byte(`{"Throttle": {"CreateTags": {"capacity": 3, "refill": 1}}}`), &j))
	assert.Equal(t, "CreateTags=3/1", j.Throttle.String())
	b, err := json.Marshal(j)
	require.NoError(t, err)
	assert.JSONEq(t, `{"Throttle": {"CreateTags": {"capacity": 3, "refill": 1}}}`, string(b))
}

func TestLoadTraceErrorsNameLineAndField(t *testing.T) {
	_, err := LoadTrace(strings.NewReader(`{"seq":1,"action":"AssignPrivateIpAddresses","call":1,"status":200,"latency":"0s"}

{"seq":2,"action":"AssignPrivateIpAddresses","call":"two","status":500}
{"seq":3,"action":"AssignPrivateIpAddresses","call":1,"status":500,"fault":"rule-1","latency":"soon"}
{"seq":4,"action":"CreateTags","call":1,"status":500,"fault":"rule-1","colour":"red"}
{"seq":5,"action":"CreateTags","call":2,"status":500,"fault":"rule-1"}
not json
`))
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`line 3: field "call": want a int, got a JSON string`,
		`line 4: field "latency": want a non-negative duration like "1.5s", got "soon"`,
		`line 5: unknown field "colour"`,
		`line 6: field "code": required when "fault" is set`,
		`line 7: not a JSON object`,
	} {
		assert.Contains(t, msg, want)
	}

	_, err = LoadTrace(strings.NewReader(`{"action":"CreateTags","call":1,"status":200}
{"action":"CreateTags","call":1,"status":200}
`))
	assert.ErrorContains(t, err, "line 2: call 1 of CreateTags already recorded at line 1")
}

// A recorded trace, replayed against a controller with no rules and no
// throttling at all, injects the same faults at the same calls.
func TestReplayReproducesFaultsCallForCall(t *testing.T) {
	var rec bytes.Buffer
	orig, clk := newController(t, Config{Seed: 7, Trace: &rec,
		Throttle: ThrottleCustom(map[string]Bucket{"CreateTags": {Capacity: 3, Refill: 1}}),
		Latency:  map[string]Latency{"AttachNetworkInterface": {Min: time.Second, Max: 5 * time.Second}},
		Faults:   []Rule{{Name: "flaky", Kind: "internal", Operations: []string{"AssignPrivateIpAddresses"}, Percentage: 40}}})
	type result struct {
		code    string
		latency time.Duration
	}
	workload := func(c *Controller, clk *clockFake) []result {
		var out []result
		for i := 0; i < 30; i++ {
			for _, a := range []string{"AssignPrivateIpAddresses", "CreateTags", "AttachNetworkInterface"} {
				code, v := call(c, clk, a, url.Values{"NetworkInterfaceId": {"eni-1"}})
				out = append(out, result{code, v.Latency})
			}
		}
		return out
	}
	want := workload(orig, clk)
	codes := map[string]int{}
	for _, r := range want {
		codes[r.code]++
	}
	require.Positive(t, codes["InternalError"], "the recording has injected faults")
	require.Positive(t, codes["RequestLimitExceeded"], "the recording has bucket throttles")

	trace, err := LoadTrace(&rec)
	require.NoError(t, err)
	rep, clk2 := newController(t, Config{Seed: 99, Throttle: ThrottleNone, Replay: trace})
	got := workload(rep, clk2)
	assert.Equal(t, want, got)
	k1, k2 := orig.Counters(), rep.Counters()
	assert.Equal(t, k1.Errors, k2.Errors)
	assert.Equal(t, k1.Throttled, k2.Throttled)
	assert.Equal(t, k1.FaultsInjected, k2.FaultsInjected)
	for _, r := range rep.Trace() {
		if r.Code != "" {
			assert.True(t, r.Replayed)
			assert.NotEmpty(t, r.Fault)
		}
	}

	// Past the end of the recording, calls are decided live.
	code, _ := call(rep, clk2, "CreateTags", nil)
	assert.Empty(t, code)
}

type clockFake = clock.Fake

// A trace's call numbers are input: a huge one (a corrupt or hostile file)
// must not make the controller allocate by it.
func TestReplayOfAHugeCallNumberCostsNothing(t *testing.T) {
	c, clk := newController(t, Config{Throttle: ThrottleCustom(map[string]Bucket{"CreateTags": {Capacity: 1, Refill: 0}}), Replay: []Record{
		{Action: "CreateTags", Call: 2, Status: 500, Code: "InternalError", Fault: "rule-1"},
		{Action: "CreateTags", Call: 1 << 40, Status: 200},
	}})
	var codes []string
	for range 3 {
		code, _ := call(c, clk, "CreateTags", nil)
		codes = append(codes, code)
	}
	assert.Equal(t, []string{"", "InternalError", ""}, codes, "calls inside the recording are replayed, not throttled")
}
