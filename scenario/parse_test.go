package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const minimal = `
name: mini
vpc:
  cidr: 10.0.0.0/16
  subnets:
    - {id: subnet-a, cidr: 10.0.1.0/24}
nodes:
  - {name: node, count: 2, instanceType: c5.large, subnet: subnet-a}
  - {name: solo, instanceType: m5.large, subnet: subnet-a, maxPods: 17, labels: {team: x}}
steps:
  - {pods: {node: node-1, add: 2}}
  - {expect: {node: node-1, enis: 2, totalIPs: 18}}
  - {ping: {from: node-1/pod-1, to: node-1/pod-2}}
  - sleep: 30s
`

func parseOK(t *testing.T, src string) *Scenario {
	t.Helper()
	sc, err := Parse("t.yaml", []byte(src))
	require.NoError(t, err)
	return sc
}

// problems parses src, which must be invalid, and returns its problems.
func problems(t *testing.T, src string) Problems {
	t.Helper()
	_, err := Parse("bad.yaml", []byte(src))
	require.Error(t, err)
	var ps Problems
	require.True(t, errors.As(err, &ps), "error is a Problems list: %v", err)
	return ps
}

func TestParseExpandsNodesAndFillsDefaults(t *testing.T) {
	sc := parseOK(t, minimal)
	assert.Equal(t, "mini", sc.Name)
	assert.Equal(t, 1.0, sc.TimeScale, "timeScale defaults to real time")
	assert.Equal(t, "aws", sc.EC2.Throttle, "EC2 throttles like AWS unless told otherwise")
	require.Len(t, sc.Nodes, 3)
	assert.Equal(t, []string{"node-1", "node-2", "solo"}, []string{sc.Nodes[0].Name, sc.Nodes[1].Name, sc.Nodes[2].Name},
		"count gives <name>-<i> from 1; no count gives exactly <name>")
	assert.Equal(t, 17, sc.Nodes[2].MaxPods)
	assert.Equal(t, map[string]string{"team": "x"}, sc.Nodes[2].Labels)
	assert.Equal(t, "us-west-2a", sc.VPC.Subnets[0].AZ)
	require.Len(t, sc.Steps, 4)
	assert.Equal(t, DefaultWithin, sc.Steps[1].Expect.Within, "within defaults to 60s of lab time")
	assert.Equal(t, map[string]int{"enis": 2, "totalIPs": 18}, sc.Steps[1].Expect.Figures)
	assert.True(t, sc.Steps[2].Ping.ExpectOK, "ping expects ok by default")
	assert.Equal(t, 30*time.Second, sc.Steps[3].Sleep)
	assert.Equal(t, 3, sc.Steps[3].Index)
}

func TestParseDesignExample(t *testing.T) {
	// The example of DESIGN §6, verbatim apart from pods the pings need.
	src := `
name: c5-large-warm-pool
seed: 42
timeScale: 0.01
vpc:
  cidr: 10.0.0.0/16
  secondaryCidrs: [100.64.0.0/16]
  subnets:
    - {id: subnet-a, cidr: 10.0.1.0/24, az: us-west-2a, tags: {kubernetes.io/role/cni: "1"}}
    - {id: subnet-pods, cidr: 100.64.0.0/19, az: us-west-2a}
  reservations: [{subnet: subnet-a, cidr: 10.0.1.128/25, type: prefix}]
ec2:
  throttle: aws
  latency: {AttachNetworkInterface: 3s-10s, AssignPrivateIpAddresses: 1s-3s}
  imdsLag: 500ms
ipamd:
  env: {WARM_ENI_TARGET: "1"}
eniConfigs: [{name: us-west-2a, subnet: subnet-pods, securityGroups: [sg-1]}]
nodes:
  - {name: node, count: 3, instanceType: c5.large, subnet: subnet-a, maxPods: 0, labels: {}}
steps:
  - {pods: {node: node-1, add: 1}}
  - {pods: {node: node-2, add: 1}}
  - {expect: {node: node-1, enis: 2, totalIPs: 18, assignedIPs: 1, within: 60s}}
  - {expect: {node: node-3, enis: 1, totalIPs: 9}}
  - {fault: {kind: throttle, operations: [AssignPrivateIpAddresses], percentage: 100, duration: 30s}}
  - {restart: {node: node-1}}
  - {ping: {from: node-1/pod-1, to: node-2/pod-1, expect: ok}}
  - {sleep: 30s}
`
	sc := parseOK(t, src)
	assert.Equal(t, int64(42), sc.Seed)
	assert.Equal(t, 0.01, sc.TimeScale)
	assert.Equal(t, LatencyRange{Min: 3 * time.Second, Max: 10 * time.Second}, sc.EC2.Latency["AttachNetworkInterface"])
	assert.Equal(t, 500*time.Millisecond, sc.EC2.IMDSLag)
	assert.Equal(t, map[string]string{"WARM_ENI_TARGET": "1"}, sc.IPAMDEnv)
	assert.Equal(t, []ENIConfig{{Name: "us-west-2a", Subnet: "subnet-pods", SecurityGroups: []string{"sg-1"}}}, sc.ENIConfigs)
	assert.Equal(t, "prefix", sc.VPC.Reservations[0].Type)
	assert.Len(t, sc.Nodes, 3)
	f := sc.Steps[4].Fault
	assert.Equal(t, &Fault{Kind: "throttle", Operations: []string{"AssignPrivateIpAddresses"}, Percentage: 100, Duration: 30 * time.Second}, f)
	assert.Equal(t, "node-1", sc.Steps[5].Restart.Node)
	assert.Equal(t, 30*time.Second, sc.Steps[7].Sleep, "sleep works as {sleep: 30s} too")
}

func TestParseCustomThrottle(t *testing.T) {
	sc := parseOK(t, strings.Replace(minimal, "nodes:", "ec2:\n  throttle: {AttachNetworkInterface: {capacity: 3, refill: 1}}\nnodes:", 1))
	assert.Equal(t, "custom", sc.EC2.Throttle)
	assert.Equal(t, map[string]Bucket{"AttachNetworkInterface": {Capacity: 3, Refill: 1}}, sc.EC2.Buckets)
}

func TestInvalidScenarioListsEveryProblemAtOnce(t *testing.T) {
	src := `name: broken
vpc:
  cidr: 10.0.0.0/16
  subnets:
    - {id: subnet-a, cidr: 10.0.1.0/24}
    - {id: subnet-b, cidr: 10.0.300.0/24}
    - {id: subnet-c, cidr: 192.168.0.0/24}
nodes:
  - {name: node, instanceType: c5.huge, subnet: subnet-a}
steps:
  - {explode: {node: node}}
  - {expect: {node: node, enis: 1}}
`
	ps := problems(t, src)
	want := []struct {
		line  int
		field string
		msg   string
	}{
		{6, "vpc.subnets[1].cidr", `bad CIDR "10.0.300.0/24"`},
		{7, "vpc.subnets[2].cidr", "subnet 192.168.0.0/24 is outside the VPC (10.0.0.0/16)"},
		{9, "nodes[0].instanceType", `unknown instance type "c5.huge"`},
		{11, "steps[0].explode", `unknown step kind "explode"`},
	}
	require.Len(t, ps, len(want), "every problem, and only those: %v", ps)
	for i, w := range want {
		assert.Equal(t, "bad.yaml", ps[i].File)
		assert.Equal(t, w.line, ps[i].Line, "line of %s", w.field)
		assert.Equal(t, w.field, ps[i].Field)
		assert.Contains(t, ps[i].Msg, w.msg)
	}
	assert.Contains(t, ps.Error(), "bad.yaml:9: nodes[0].instanceType: unknown instance type \"c5.huge\"",
		"each problem reads file:line: field: message")
}

func TestProblemsNameLineAndField(t *testing.T) {
	cases := []struct {
		name, src, field, msg string
		line                  int
	}{
		{"unknown top-level field", "nodez: []\n", "nodez", `unknown field "nodez" (did you mean "nodes"?)`, 1},
		{"host bits in a CIDR", "vpc:\n  cidr: 10.0.0.1/16\n", "vpc.cidr", "host bits are set (did you mean 10.0.0.0/16?)", 2},
		{"bad duration", "steps:\n  - sleep: 30\n", "steps[0].sleep", `bad duration "30": give a unit, e.g. 30s`, 2},
		{"negative duration", "steps:\n  - sleep: -3s\n", "steps[0].sleep", "must not be negative", 2},
		{"unknown expect key", "steps:\n  - expect: {node: node-1, eni: 2}\n", "steps[0].expect.eni", `unknown field "eni" (did you mean "enis"?)`, 2},
		{"expect without node", "steps:\n  - expect: {enis: 2}\n", "steps[0].expect.node", "missing: enis are figures of one node", 2},
		{"unknown node", "steps:\n  - restart: {node: node-9}\n", "steps[0].restart.node", `unknown node "node-9"`, 2},
		{"unknown subnet", "nodes:\n  - {name: x, instanceType: c5.large, subnet: subnet-z}\n", "nodes[0].subnet", `unknown subnet "subnet-z"`, 2},
		{"two kinds in one step", "steps:\n  - {sleep: 1s, restart: {node: node-1}}\n", "steps[0]", "a step has exactly one kind", 2},
		{"pod never created", "steps:\n  - {ping: {from: node-1/pod-3, to: node-1/pod-1}}\n", "steps[0].ping.from", "does not exist yet", 2},
		{"bad pod name", "steps:\n  - {breakRule: {pod: node-1-pod-1}}\n", "steps[0].breakRule.pod", "want <node>/pod-<n>", 2},
		{"ping expect", "steps:\n  - {pods: {node: node-1, add: 2}}\n  - {ping: {from: node-1/pod-1, to: node-1/pod-2, expect: maybe}}\n", "steps[1].ping.expect", "want ok or fail", 3},
		{"percentage", "steps:\n  - {fault: {kind: internal, percentage: 120}}\n", "steps[0].fault.percentage", "want 1 to 100", 2},
		{"fault kind", "steps:\n  - {fault: {kind: explode}}\n", "steps[0].fault.kind", "want internal, throttle, unavailable or an EC2 error code", 2},
		{"unknown action", "ec2:\n  latency: {AttachNetworkInterfaces: 1s}\n", "ec2.latency.AttachNetworkInterfaces", `did you mean "AttachNetworkInterface"?`, 2},
		{"latency range", "ec2:\n  latency: {AttachNetworkInterface: 5s-1s}\n", "ec2.latency.AttachNetworkInterface", "the minimum is above the maximum", 2},
		{"throttle word", "ec2:\n  throttle: sometimes\n", "ec2.throttle", "want aws, none or a mapping", 2},
		{"reservation outside subnet", "vpc:\n  cidr: 10.0.0.0/16\n  subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]\n  reservations: [{subnet: subnet-a, cidr: 10.0.2.0/28, type: prefix}]\n", "vpc.reservations[0].cidr", "outside subnet subnet-a", 4},
		{"overlapping subnets", "vpc:\n  cidr: 10.0.0.0/16\n  subnets:\n    - {id: subnet-a, cidr: 10.0.1.0/24}\n    - {id: subnet-b, cidr: 10.0.1.128/25}\n", "vpc.subnets[1].cidr", "overlaps subnet-a", 5},
		{"duplicate node", "nodes:\n  - {name: node-1, instanceType: c5.large, subnet: subnet-a}\n  - {name: node, count: 1, instanceType: c5.large, subnet: subnet-a}\n", "nodes[1].name", `node "node-1" is defined twice`, 3},
		{"custom networking without an ENIConfig for the zone", "ipamd:\n  env: {AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: \"true\", ENI_CONFIG_LABEL_DEF: topology.kubernetes.io/zone}\neniConfigs: [{name: us-west-2b, subnet: subnet-a}]\nnodes:\n  - {name: x, instanceType: c5.large, subnet: subnet-a}\n", "nodes (x)", `custom networking: no ENIConfig named "us-west-2a"`, 5},
		{"custom networking without a label or default ENIConfig", "ipamd:\n  env: {AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: \"true\"}\neniConfigs: [{name: us-west-2a, subnet: subnet-a}]\nnodes:\n  - {name: x, instanceType: c5.large, subnet: subnet-a}\n", "nodes (x)", "has no label k8s.amazonaws.com/eniConfig", 5},
		{"security group name instead of id", "eniConfigs: [{name: us-west-2a, subnet: subnet-a, securityGroups: [sg-1, pods]}]\n", "eniConfigs[0].securityGroups[1]", `bad security group id "pods": want sg-`, 1},
		{"custom networking without eniConfigs", "ipamd:\n  env: {AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: \"true\"}\n", "eniConfigs", "no eniConfigs are defined", 2},
		{"fault name twice", "steps:\n  - {fault: {name: f, kind: internal}}\n  - fault:\n      kind: throttle\n      name: f\n", "steps[1].fault.name", `fault name "f" is already used by steps[0]`, 5},
		{"too many pods", "steps:\n  - {pods: {node: node-1, add: 5000}}\n", "steps[0].pods.add", "at most 1000 pods per step", 2},
		{"add and delete", "steps:\n  - {pods: {node: node-1, add: 1, delete: 1}}\n", "steps[0].pods", "give add or delete, not both", 2},
		{"empty nodes", "nodes: []\n", "nodes", "at least one node", 1},
		{"enis beyond the type", "steps:\n  - expect: {node: node-1, enis: 4}\n", "steps[0].expect.enis", "4 can never hold on node-1 (c5.large: at most 3 ENIs)", 2},
		{"pods beyond the addresses", "steps:\n  - {sleep: 1s}\n  - expect: {node: node-1, readyPods: 500}\n", "steps[1].expect.readyPods", "500 can never hold on node-1 (c5.large: at most 432 pod addresses)", 3},
		{"not yaml", "vpc: [\n", "", "not valid YAML", 2},
	}
	base := map[string]string{
		"vpc":   "vpc:\n  cidr: 10.0.0.0/16\n  subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]\n",
		"nodes": "nodes:\n  - {name: node-1, instanceType: c5.large, subnet: subnet-a}\n",
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The case's own text comes first, so its lines are as written;
			// whatever sections it lacks are appended valid.
			src := tc.src
			for _, k := range []string{"vpc", "nodes"} {
				if !strings.Contains(src, k+":") {
					src += base[k]
				}
			}
			ps := problems(t, src)
			var found bool
			for _, p := range ps {
				if p.Field == tc.field && strings.Contains(p.Msg, tc.msg) {
					found = true
					assert.Equal(t, tc.line, p.Line, "line of %s", p)
				}
			}
			assert.True(t, found, "want a problem at %s containing %q, got:\n%v", tc.field, tc.msg, ps)
		})
	}
}

func TestPodReferencesFollowDeletes(t *testing.T) {
	src := strings.Replace(minimal, "  - sleep: 30s\n", "  - {pods: {node: node-1, delete: 1}}\n  - {ping: {from: node-1/pod-1, to: node-1/pod-2}}\n", 1)
	ps := problems(t, src)
	require.Len(t, ps, 1)
	assert.Equal(t, "steps[4].ping.to", ps[0].Field)
	assert.Contains(t, ps[0].Msg, "was deleted by an earlier step")
}

func TestBuiltinScenariosValidate(t *testing.T) {
	files, err := filepath.Glob("../scenarios/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	kinds := map[string]bool{}
	for _, f := range files {
		sc, err := Load(f)
		if !assert.NoError(t, err, f) {
			continue
		}
		assert.NotEmpty(t, sc.Steps, f)
		assert.LessOrEqual(t, sc.TimeScale, 0.25, "%s: built-in scenarios run fast", f)
		for _, st := range sc.Steps {
			kinds[st.Kind] = true
		}
		data, _ := os.ReadFile(f)
		assert.True(t, strings.HasPrefix(string(data), "# "), "%s opens with a comment explaining what it shows", f)
	}
	for _, k := range Kinds {
		if k != KindSleep {
			assert.True(t, kinds[k], "some built-in scenario uses step kind %s", k)
		}
	}
	assert.FileExists(t, "../scenarios/tour.yaml", "make demo runs the tour")
}

func TestEmptyFile(t *testing.T) {
	ps := problems(t, "")
	assert.Contains(t, ps[0].Msg, "empty")
}

// TestDocsExampleParses keeps the format reference in README.md
// honest: its full example must be a valid scenario.
func TestDocsExampleParses(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	doc := string(data)
	start := strings.Index(doc, "## The whole format")
	require.NotEqual(t, -1, start)
	block := doc[start:]
	block = block[strings.Index(block, "```yaml\n")+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	sc, err := Parse("README.md", []byte(block))
	require.NoError(t, err)
	assert.Len(t, sc.Nodes, 4)
}

// TestDocsStepExamplesParse checks every step example of README.md
// against a small lab with three pods on each of two nodes.
func TestDocsStepExamplesParse(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	doc := string(data)
	doc = doc[strings.Index(doc, "## Steps"):]
	doc = doc[:strings.Index(doc, "## The timeline")]
	base := `vpc:
  cidr: 10.0.0.0/16
  secondaryCidrs: [100.64.0.0/16]
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24, public: true}, {id: subnet-pods, cidr: 100.64.0.0/19}]
nodes: [{name: node, count: 2, instanceType: c5.large, subnet: subnet-a}]
steps:
  - {pods: {node: node-1, add: 12}}
  - {pods: {node: node-2, add: 12}}
`
	blocks := 0
	kinds := map[string]bool{}
	for {
		i := strings.Index(doc, "```yaml\n")
		if i < 0 {
			break
		}
		doc = doc[i+len("```yaml\n"):]
		block := doc[:strings.Index(doc, "```")]
		doc = doc[len(block)+3:]
		blocks++
		var indented strings.Builder
		for _, l := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
			indented.WriteString("  " + l + "\n")
		}
		sc, err := Parse("README.md", []byte(base+indented.String()))
		if assert.NoError(t, err, "example:\n%s", block) {
			for _, st := range sc.Steps[2:] {
				kinds[st.Kind] = true
			}
		}
	}
	assert.GreaterOrEqual(t, blocks, 7)
	for _, k := range Kinds {
		assert.True(t, kinds[k], "README.md has an example of step kind %s", k)
	}
}

// A restart step may change ipamd's environment (a changed DaemonSet), e.g.
// to switch prefix delegation between restarts.
func TestRestartStepWithEnv(t *testing.T) {
	src := strings.Replace(minimal, "  - sleep: 30s\n", "  - {restart: {node: node-1, env: {ENABLE_PREFIX_DELEGATION: \"true\"}}}\n", 1)
	sc := parseOK(t, src)
	var r *RestartStep
	for _, st := range sc.Steps {
		if st.Kind == KindRestart {
			r = st.Restart
		}
	}
	require.NotNil(t, r)
	assert.Equal(t, map[string]string{"ENABLE_PREFIX_DELEGATION": "true"}, r.Env)
	assert.Equal(t, "restart: ipamd on node-1 with ENABLE_PREFIX_DELEGATION=true", Step{Kind: KindRestart, Restart: r}.Describe())
}

// A checkpoint step names an existing node and one of the actions; each
// mistake is a problem at its line.
func TestCheckpointStepValidation(t *testing.T) {
	sc := parseOK(t, strings.Replace(minimal, "  - sleep: 30s\n", "  - {checkpoint: {node: node-1, action: corrupt}}\n", 1))
	last := sc.Steps[len(sc.Steps)-1]
	require.Equal(t, KindCheckpoint, last.Kind)
	assert.Equal(t, CheckpointStep{Node: "node-1", Action: CheckpointCorrupt}, *last.Checkpoint)

	src := strings.Replace(minimal, "  - sleep: 30s\n", `  - {checkpoint: {node: node-1, action: corupt}}
  - {checkpoint: {node: node-9, action: remove}}
  - {checkpoint: {node: node-1}}
  - {checkpoint: {action: rebuild, file: x}}
`, 1)
	var got []string
	for _, p := range problems(t, src) {
		got = append(got, p.String())
	}
	all := strings.Join(got, "\n")
	assert.Contains(t, all, `bad.yaml:14: steps[3].checkpoint.action: unknown checkpoint action "corupt" (did you mean "corrupt"?); want one of corrupt, wrongVersion, remove, rebuild`)
	assert.Contains(t, all, `bad.yaml:15: steps[4].checkpoint.node: unknown node "node-9"`)
	assert.Contains(t, all, `bad.yaml:16: steps[5].checkpoint.action: missing: want one of corrupt, wrongVersion, remove, rebuild`)
	assert.Contains(t, all, `bad.yaml:17: steps[6].checkpoint.file: unknown field "file" (known: node, action)`)
	assert.Len(t, got, 5, all)
}
