package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/cniplugin/multicall"
	"github.com/enilab/enilab/fakeec2/chaos"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/internal/vmenv"
	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
	"github.com/enilab/enilab/scenario/nodelab"
)

// TestMain builds the lab's own plugins for the labs of these tests
// (node.RunWithOwnPlugins); without them a lab re-executes the test
// binary under the name aws-cni.
func TestMain(m *testing.M) {
	multicall.RunIfPlugin()
	os.Exit(node.RunWithOwnPlugins(m.Run))
}

func needRoot(t *testing.T) {
	t.Helper()
	if !nsutil.IsRoot() {
		t.Skip("needs root: a lab is made of network namespaces")
	}
}

// labPrefix is a fresh namespace prefix; the test fails if anything named
// with it outlives the run.
func labPrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	p := "enlt-cli-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		left, err := node.Leftovers(p)
		assert.NoError(t, err)
		assert.Empty(t, left, "left behind by lab %s (netns, links, mounts, temp dirs)", p)
		if len(left) > 0 {
			_ = node.Sweep(p)
		}
	})
	return p
}

type runResult struct {
	out    string
	code   int
	err    error
	report map[string]any
	rep    scenario.Report
}

// runReal runs `enilab run` with the real lab builder.
func runReal(t *testing.T, file string, extra ...string) runResult {
	t.Helper()
	report := filepath.Join(t.TempDir(), "report.json")
	args := append([]string{"run", file, "--prefix", labPrefix(t), "--report", report, "--color", "never"}, extra...)
	if sc, lerr := scenario.Load(file); lerr == nil {
		if scale, ok := emulatedScale(sc, extra); ok {
			t.Logf("software emulation: --time-scale %g (the file's ×5)", scale)
			args = append(args, "--time-scale", strconv.FormatFloat(scale, 'g', -1, 64))
		}
	}
	var out bytes.Buffer
	err := Run(context.Background(), args, &out, &out)
	code := Exit(err, &out) // the error's line belongs in the output too
	res := runResult{out: out.String(), err: err, code: code}
	if data, rerr := os.ReadFile(report); rerr == nil {
		require.NoError(t, json.Unmarshal(data, &res.report))
		require.NoError(t, json.Unmarshal(data, &res.rep))
	}
	return res
}

// emulatedScale is the file's timeScale stretched 5× under software
// emulation (the VM runner's vmenv.Emulated, docs/VM.md), where a
// plugin exec or a netlink call takes several times longer than on a
// real CPU: at the file's scale the first pods' ADDs there can outlast a
// 1m-of-lab-time expect. The e2e suite stretches its lab clock alike.
func emulatedScale(sc *scenario.Scenario, extra []string) (float64, bool) {
	if !vmenv.Emulated() || slices.Contains(extra, "--time-scale") {
		return 0, false
	}
	return min(sc.TimeScale*5, 10), true
}

func TestBuiltinScenariosPass(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("-short: every built-in scenario takes minutes in all")
	}
	for _, file := range builtins(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			sc, err := scenario.Load(file)
			require.NoError(t, err)
			if err := nodelab.KernelNeeds(sc); err != nil {
				t.Skipf("needs a kernel feature this host lacks (it runs in `make vm-test`): %v", err)
			}
			res := runReal(t, file)
			if !assert.Equal(t, ExitOK, res.code, "timeline:\n%s", res.out) {
				return
			}
			assert.Equal(t, true, res.report["passed"])
			assert.Equal(t, name, res.report["scenario"])
			assertReportShape(t, res.report)
			require.Len(t, res.rep.Steps, len(sc.Steps))
			for i, st := range res.rep.Steps {
				assert.Equal(t, i, st.Index)
				assert.Equal(t, sc.Steps[i].Kind, st.Kind)
				assert.True(t, st.OK, "step %d: %s", i, st.Message)
			}
			require.Len(t, res.rep.Nodes, len(sc.Nodes))
			for i, n := range res.rep.Nodes {
				assert.Equal(t, sc.Nodes[i].Name, n.Name)
				assert.Equal(t, sc.Nodes[i].InstanceType, n.InstanceType)
				assert.NotEmpty(t, n.InstanceID)
				assert.Positive(t, n.MaxPods)
			}
			require.Len(t, res.rep.Subnets, len(sc.VPC.Subnets))
			for i, s := range res.rep.Subnets {
				assert.Equal(t, sc.VPC.Subnets[i].ID, s.ID)
				assert.Equal(t, sc.VPC.Subnets[i].CIDR.String(), s.CIDR)
			}
			assert.NotEmpty(t, res.rep.EC2.Calls, "ipamd called EC2")
			if name == "subnet-exhaustion" {
				assertExhaustionCause(t, res)
			}
		})
	}
}

// On a kernel without 8021q, running the built-in security-groups-for-pods
// stops before the lab starts (exit 3), naming the kernel feature and
// `make vm-test`, and leaves nothing behind; with 8021q
// TestBuiltinScenariosPass runs it.
func TestSecurityGroupsForPodsNeeds8021q(t *testing.T) {
	needRoot(t)
	if node.VLANSupported() {
		t.Skip("this kernel has 8021q: TestBuiltinScenariosPass/security-groups-for-pods runs the scenario instead")
	}
	res := runReal(t, "../../../scenarios/security-groups-for-pods.yaml")
	assert.Equal(t, ExitLab, res.code, "output:\n%s", res.out)
	assert.Contains(t, res.out, "8021q")
	assert.Contains(t, res.out, "make vm-test")
}

// assertExhaustionCause checks that the subnet-exhaustion built-in shows
// EC2's InsufficientFreeAddressesInSubnet as a timeline event as it
// happens, and as the reason of its pending pods, in the timeline and in
// the report's per-pod rows.
func assertExhaustionCause(t *testing.T, res runResult) {
	t.Helper()
	var event, reason bool
	for _, line := range strings.Split(res.out, "\n") {
		event = event || strings.HasPrefix(line, "[") && strings.Contains(line, "ipamd: Failed to CreateNetworkInterface") && strings.Contains(line, "InsufficientFreeAddressesInSubnet")
		reason = reason || strings.Contains(line, "Pending") && strings.Contains(line, "FailedCreatePodSandBox") && strings.Contains(line, "InsufficientFreeAddressesInSubnet")
	}
	assert.True(t, event, "a timeline event naming InsufficientFreeAddressesInSubnet:\n%s", res.out)
	assert.True(t, reason, "the pending pods' reason names InsufficientFreeAddressesInSubnet:\n%s", res.out)
	var pending int
	for _, p := range res.rep.Pods.Items {
		if p.Phase == "Pending" {
			pending++
			assert.Contains(t, p.Message, "InsufficientFreeAddressesInSubnet", "pod %s", p.Name)
		}
	}
	assert.Positive(t, pending, "the report has the pending pods' rows")
}

// assertReportShape checks the keys and nesting of a report as read back
// from its JSON against DESIGN §6.
func assertReportShape(t *testing.T, rep map[string]any) {
	t.Helper()
	keys := func(what string, v any) []string {
		m, ok := v.(map[string]any)
		if !assert.True(t, ok, "%s: want an object, got %T", what, v) {
			return nil
		}
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	list := func(what string) []any {
		l, ok := rep[what].([]any)
		assert.True(t, ok, "%s: want a list, got %T", what, rep[what])
		return l
	}
	assert.Equal(t, []string{"ec2", "nodes", "passed", "pods", "scenario", "series", "steps", "subnets", "version"}, keys("report", rep))
	assert.Equal(t, []string{"ec2", "nodes"}, keys("series", rep["series"]))
	for _, s := range list("steps") {
		assert.Equal(t, []string{"index", "kind", "labMs", "message", "ok"}, keys("steps[]", s))
	}
	for _, n := range list("nodes") {
		assert.Equal(t, []string{"assignedIPs", "enis", "instanceId", "instanceType", "ipamd", "ipamdRestarts", "maxPods", "name", "pendingPods",
			"prefixes", "readyPods", "rejectedPods", "totalIPs", "warmIPs"}, keys("nodes[]", n))
	}
	for _, s := range list("subnets") {
		assert.Equal(t, []string{"cidr", "free", "id"}, keys("subnets[]", s))
	}
	assert.Equal(t, []string{"calls", "errors", "faultsInjected", "throttled"}, keys("ec2", rep["ec2"]))
	assert.Equal(t, []string{"items", "readyLatencyMs"}, keys("pods", rep["pods"]))
	if pods, ok := rep["pods"].(map[string]any); ok {
		assert.Equal(t, []string{"max", "p50", "p90", "p99"}, keys("pods.readyLatencyMs", pods["readyLatencyMs"]))
		items, _ := pods["items"].([]any)
		for _, p := range items {
			ks := keys("pods.items[]", p)
			ks = slices.DeleteFunc(ks, func(k string) bool { return k == "message" }) // only when not running
			assert.Equal(t, []string{"device", "eni", "ip", "name", "node", "phase", "readyLatencyMs", "subnet"}, ks)
		}
	}
}

func writeScenario(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

// An expect that can hold but does not (an idle c5.large keeps one ENI)
// fails the run, named with its line and figures. One that can never hold
// is refused before the lab is built (scenario.impossibleExpects).
func TestUnmetExpectExitsNonZeroNamingIt(t *testing.T) {
	needRoot(t)
	file := writeScenario(t, `name: unmet
timeScale: 0.02
vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]
nodes:
  - {name: node-1, instanceType: c5.large, subnet: subnet-a}
steps:
  - {expect: {node: node-1, enis: 1, totalIPs: 9}}
  - {expect: {node: node-1, enis: 3, within: 10s}}
`)
	res := runReal(t, file)
	assert.Equal(t, ExitFailed, res.code, res.out)
	assert.Contains(t, res.out, "steps[1] expect (line 10) on node-1 did not hold within 10s: enis: want 3, got 1")
	assert.Equal(t, false, res.report["passed"])
	assert.True(t, res.rep.Steps[0].OK)
	assert.False(t, res.rep.Steps[1].OK)
}

const faulty = `name: faulty
seed: 99
timeScale: 0.02
vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]
ec2:
  throttle: none
nodes:
  - {name: node-1, instanceType: c5.large, subnet: subnet-a}
steps:
  - {expect: {node: node-1, enis: 1, totalIPs: 9}}
  - {fault: {name: flaky-assign, kind: internal, operations: [AssignPrivateIpAddresses], percentage: 50, count: 6}}
  - {fault: {name: flaky-create, kind: InsufficientFreeAddressesInSubnet, operations: [CreateNetworkInterface], count: 1}}
  - {pods: {node: node-1, add: 12}}
  - {expect: {node: node-1, enis: 3, totalIPs: 27, assignedIPs: 12, readyPods: 12, within: 5m}}
  - {expect: {ec2Errors: {InsufficientFreeAddressesInSubnet: 1}}}
`

// errorSequence lists, per action in call order, the calls that failed and
// how.
func errorSequence(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := chaos.LoadTrace(f)
	require.NoError(t, err)
	var out []string
	for _, r := range recs {
		if r.Code != "" {
			out = append(out, fmt.Sprintf("%s#%d %s", r.Action, r.Call, r.Code))
		}
	}
	sort.Strings(out)
	return out
}

func TestTraceReplaysTheSameErrorsAndFigures(t *testing.T) {
	needRoot(t)
	file := writeScenario(t, faulty)
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.jsonl"), filepath.Join(dir, "second.jsonl")

	a := runReal(t, file, "--trace", first)
	require.Equal(t, ExitOK, a.code, a.out)
	errsA := errorSequence(t, first)
	require.NotEmpty(t, errsA, "the faults fired")
	assert.Positive(t, a.rep.EC2.FaultsInjected)

	b := runReal(t, file, "--replay", first, "--trace", second)
	require.Equal(t, ExitOK, b.code, b.out)
	assert.Contains(t, b.out, "--replay injects the faults recorded in the trace instead")
	assert.Equal(t, errsA, errorSequence(t, second), "the replay fails the same calls the same way")
	assert.Equal(t, a.rep.Nodes[0].ENIs, b.rep.Nodes[0].ENIs)
	strip := func(r scenario.Report) ([]scenario.NodeReport, []scenario.SubnetReport, map[string]int) {
		nodes := append([]scenario.NodeReport(nil), r.Nodes...)
		for i := range nodes {
			nodes[i].InstanceID = "" // both runs use the seed, but ids are not the point
		}
		return nodes, r.Subnets, r.EC2.Errors
	}
	na, sa, ea := strip(a.rep)
	nb, sb, eb := strip(b.rep)
	assert.Equal(t, na, nb, "same final node figures")
	assert.Equal(t, sa, sb, "same final subnet figures")
	assert.Equal(t, ea, eb, "same EC2 error counts")
}

// cancelOn cancels when the output shows a marker, like a person pressing
// Ctrl-C on seeing it.
type cancelOn struct {
	buf    bytes.Buffer
	marker string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.marker) {
		c.cancel()
	}
	return len(p), nil
}

func TestInterruptTearsTheLabDown(t *testing.T) {
	needRoot(t)
	file := writeScenario(t, `name: long
timeScale: 0.05
vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]
nodes:
  - {name: node-1, instanceType: c5.large, subnet: subnet-a}
steps:
  - {pods: {node: node-1, add: 3}}
  - {sleep: 1h}
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelOn{marker: "▶ step 2/2", cancel: cancel}
	report := filepath.Join(t.TempDir(), "r.json")
	err := Run(ctx, []string{"run", file, "--prefix", labPrefix(t), "--report", report}, out, out)
	assert.Equal(t, ExitInterrupted, Exit(err, out))
	assert.Contains(t, out.buf.String(), "interrupted: tearing the lab down")
	assert.Contains(t, out.buf.String(), "lab torn down cleanly")
	assert.FileExists(t, report, "an interrupted run still reports what it saw")
}
