package scenario

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatLabTime(t *testing.T) {
	assert.Equal(t, "[    0.0s]", FormatLabTime(0))
	assert.Equal(t, "[   12.3s]", FormatLabTime(12340*time.Millisecond))
	assert.Equal(t, "[ 9999.0s]", FormatLabTime(9999*time.Second))
	assert.Equal(t, "[ 166m40.0s]", FormatLabTime(10000*time.Second))
	assert.Equal(t, len(FormatLabTime(time.Second)), len(FormatLabTime(999*time.Second)), "stamps line up")
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0s",
		500 * time.Millisecond:  "500ms",
		1500 * time.Millisecond: "1.5s",
		30 * time.Second:        "30s",
		90 * time.Second:        "1m30s",
		2 * time.Minute:         "2m",
		time.Hour:               "1h",
		65 * time.Minute:        "1h5m",
	} {
		assert.Equal(t, want, fmtDur(d), "%v", d)
	}
}

func TestFormatPoolChangeMarksWhatMoved(t *testing.T) {
	prev := NodeState{Name: "node-1", ENIs: 1, TotalIPs: 9, WarmIPs: 9}
	cur := NodeState{Name: "node-1", ENIs: 2, TotalIPs: 18, AssignedIPs: 1, WarmIPs: 17, ReadyPods: 1, PendingPods: 2}
	assert.Equal(t, "node-1    ENIs 1→2  IPs 9→18  assigned 0→1  warm 9→17  · pods 1 ready, 2 pending", FormatPoolChange(&prev, cur))
	assert.Equal(t, "node-1    ENIs 1  IPs 9  assigned 0  warm 9  · pods 0 ready", FormatPoolChange(nil, prev), "first sighting shows plain figures")
	pd := NodeState{Name: "node-1", ENIs: 1, TotalIPs: 32, Prefixes: 2, RejectedPods: 3}
	assert.Contains(t, FormatPoolChange(&NodeState{Name: "node-1", ENIs: 1, TotalIPs: 16, Prefixes: 1}, pd), "prefixes 1→2")
	assert.Contains(t, FormatPoolChange(nil, pd), "3 rejected")
}

func TestTimelineColourOnlyWhenAsked(t *testing.T) {
	st := Step{Index: 0, Kind: KindSleep, Sleep: time.Second}
	var plain, color bytes.Buffer
	for _, c := range []struct {
		buf *bytes.Buffer
		on  bool
	}{{&plain, false}, {&color, true}} {
		tl := NewTimeline(c.buf, c.on)
		tl.StepStart(0, st, 1)
		tl.StepEnd(time.Second, st, 1, false, time.Second, "boom")
		tl.Result(false, 1, 1, time.Second)
	}
	assert.NotContains(t, plain.String(), "\x1b[")
	assert.Contains(t, plain.String(), "[    1.0s] ✗ step 1/1 FAILED (1s) boom")
	assert.Contains(t, color.String(), "\x1b[31m")
	assert.Equal(t, stripANSI(color.String()), plain.String(), "colour changes nothing but colour")
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestFormatSummary(t *testing.T) {
	s := Snapshot{
		Nodes: []NodeState{{Name: "node-1", InstanceID: "i-1", InstanceType: "c5.large", MaxPods: 29, ENIs: 2, TotalIPs: 18, AssignedIPs: 1, WarmIPs: 17, ReadyPods: 1,
			IPAMD: IPAMDCrashLoopBackOff, IPAMDRestarts: 4}},
		Subnets:        []SubnetState{{ID: "subnet-a", CIDR: "10.0.1.0/24", Free: 231}},
		EC2:            EC2Counts{Calls: map[string]int{"CreateTags": 1, "AssignPrivateIpAddresses": 5}, Errors: map[string]int{"RequestLimitExceeded": 2}, Throttled: 2},
		ReadyLatencies: []time.Duration{time.Second, 3 * time.Second},
		Pods: []PodState{
			{Name: "node-1/pod-1", Node: "node-1", Phase: "Ready", IP: "10.0.1.20", ENI: "eni-0a", Device: 1, Subnet: "subnet-a", ReadyLatency: 1200 * time.Millisecond},
			{Name: "node-1/pod-2", Node: "node-1", Phase: "Pending", Device: -1, Message: "no IP"},
		},
	}
	out := FormatSummary(s)
	lines := strings.Split(out, "\n")
	assert.Equal(t, "NODE    INSTANCE  TYPE      ENIS  IPS  ASSIGNED  WARM  PREFIXES  READY  PENDING  REJECTED  MAX PODS  IPAMD             RESTARTS", lines[0])
	assert.Equal(t, "node-1  i-1       c5.large  2     18   1         17    0         1      0        0         29        CrashLoopBackOff  4", lines[1])
	assert.Contains(t, out, "subnet-a  10.0.1.0/24  231")
	assert.Contains(t, out, "EC2: 6 calls, 2 errors, 2 throttled, 0 faults injected")
	assert.Contains(t, out, "calls:  AssignPrivateIpAddresses 5, CreateTags 1", "busiest action first")
	assert.Contains(t, out, "pod ready latency (lab time, 2 pods): p50 1s  p90 3s  p99 3s  max 3s")
	assert.Contains(t, out, "POD           STATE    IP         ENI     DEVICE  SUBNET    READY AFTER\n"+
		"node-1/pod-1  Ready    10.0.1.20  eni-0a  1       subnet-a  1.2s\n"+
		"node-1/pod-2  Pending  -          -       -       -         -\n")
	for _, l := range lines {
		assert.Equal(t, strings.TrimRight(l, " "), l, "no trailing blanks in CI logs")
	}
}

// The summary lists 40 pods and says how many more the report holds.
func TestFormatSummaryBoundsThePodTable(t *testing.T) {
	var s Snapshot
	for i := 1; i <= 45; i++ {
		s.Pods = append(s.Pods, PodState{Name: fmt.Sprintf("node-1/pod-%d", i), Phase: "Ready", IP: "10.0.1.1", ENI: "eni-0a", Subnet: "subnet-a"})
	}
	out := FormatSummary(s)
	assert.Contains(t, out, "node-1/pod-40 ")
	assert.NotContains(t, out, "node-1/pod-41 ")
	assert.Contains(t, out, "… and 5 more pods (the report lists every pod)")
}

func TestFormatWaitingGroupsByReason(t *testing.T) {
	var ps []PodState
	for i := 10; i <= 16; i++ {
		ps = append(ps, PodState{Name: fmt.Sprintf("node-2/pod-%d", i), Phase: "Pending",
			Message: fmt.Sprintf(`plugin type="aws-cni" name="aws-cni" failed (add): no IP available for default/pod-%d`, i)})
	}
	ps = append(ps, PodState{Name: "node-1/pod-12", Phase: "Rejected", Message: "max pods 11 reached"})
	assert.Equal(t, "pods not running:\n"+
		"  7 pods Pending (node-2/pod-10 … node-2/pod-16): no IP available for default/<pod>\n"+
		"  1 pod Rejected (node-1/pod-12): max pods 11 reached\n", FormatWaiting(ps))
}

func TestHeaderShowsTheSettingsThatShapeTheRun(t *testing.T) {
	sc := parseOK(t, strings.Replace(minimal, "nodes:", "ec2:\n  latency: {AttachNetworkInterface: 1s-3s, CreateTags: 200ms}\nipamd:\n  env: {WARM_IP_TARGET: \"2\"}\nnodes:", 1))
	var out bytes.Buffer
	NewTimeline(&out, false).Header(sc)
	assert.Contains(t, out.String(), "nodes 2× c5.large, 1× m5.large · 4 steps")
	assert.Contains(t, out.String(), "ec2 latency AttachNetworkInterface 1s-3s, CreateTags 200ms")
	assert.Contains(t, out.String(), "ipamd WARM_IP_TARGET=2")
}

// A scenario's description is printed under its name, line by line.
func TestHeaderPrintsTheDescription(t *testing.T) {
	sc := parseOK(t, "description: |\n  Two nodes fill up.\n  Watch the warm pool.\n"+minimal)
	var out bytes.Buffer
	NewTimeline(&out, false).Header(sc)
	lines := strings.Split(out.String(), "\n")
	require.GreaterOrEqual(t, len(lines), 3)
	assert.Equal(t, "  Two nodes fill up.", lines[1])
	assert.Equal(t, "  Watch the warm pool.", lines[2])
}

// Every expect step says in words what it checks.
func TestExpectWords(t *testing.T) {
	for _, tc := range []struct {
		e    Expect
		want string
	}{
		{Expect{Node: "node-1", Figures: map[string]int{"enis": 3, "totalIPs": 18, "readyPods": 1}, Within: time.Minute},
			"node-1 has 3 ENIs, 18 addresses in its pool, 1 pod ready, within 1m of lab time"},
		{Expect{Node: "node-2", Figures: map[string]int{"maxPods": 29, "ipamdRestarts": 1}, Within: 10 * time.Second},
			"node-2 has a max pods of 29, 1 aws-node restart, within 10s of lab time"},
		{Expect{SubnetFree: map[string]int{"subnet-a": 249}, EC2Errors: map[string]int{"InsufficientFreeAddressesInSubnet": 1}, Within: time.Minute},
			"subnet subnet-a has 249 free addresses; EC2 has answered InsufficientFreeAddressesInSubnet at least once, within 1m of lab time"},
	} {
		assert.Equal(t, tc.want, tc.e.Words())
	}
}

// --quiet keeps each step's outcome and ipamd's warnings and exits;
// --verbose adds ipamd's pool decisions to what a normal run shows.
func TestTimelineVerbosity(t *testing.T) {
	st := Step{Index: 0, Kind: KindSleep, Sleep: time.Second}
	node := NodeState{Name: "node-1", ENIs: 1, TotalIPs: 9}
	events := []NodeEvent{
		{Message: "ipamd: Allocated 9 private IP addresses"},
		{Warning: true, Message: "ipamd: EC2 API call throttled: AssignPrivateIpAddresses RequestLimitExceeded (attempt 1)"},
		{Exited: true, Message: "ipamd exited: boom"},
		{Detail: true, Message: "ipamd: Starting to increase pool size for network card 0"},
	}
	show := func(v Verbosity) string {
		var buf bytes.Buffer
		tl := NewTimeline(&buf, false)
		tl.SetVerbosity(v)
		tl.StepStart(0, st, 1)
		tl.Pool(0, nil, node)
		tl.Progress(0, "waiting")
		for _, e := range events {
			tl.IPAMDEvent(0, "node-1", e)
		}
		tl.StepEnd(time.Second, st, 1, true, time.Second, "")
		return buf.String()
	}
	quiet, normal, verbose := show(Quiet), show(Normal), show(Verbose)

	for _, out := range []string{quiet, normal, verbose} {
		assert.Contains(t, out, "✓ step 1/1")
		assert.Contains(t, out, "RequestLimitExceeded")
		assert.Contains(t, out, "ipamd exited: boom")
	}
	for _, hidden := range []string{"▶ step 1/1", "ENIs 1", "… waiting", "Allocated 9", "Starting to increase"} {
		assert.NotContains(t, quiet, hidden)
	}
	for _, shown := range []string{"▶ step 1/1", "ENIs 1", "… waiting", "Allocated 9"} {
		assert.Contains(t, normal, shown)
		assert.Contains(t, verbose, shown)
	}
	assert.NotContains(t, normal, "Starting to increase")
	assert.Contains(t, verbose, "Starting to increase")
}
