package scenario

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const workloadBase = `vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24, az: us-west-2a}]
nodes:
  - {name: node, count: 2, instanceType: m5.large, subnet: subnet-a, labels: {group: ng}}
steps:
`

func TestParseWorkloadSteps(t *testing.T) {
	sc := parseOK(t, workloadBase+`  - {deploy: {name: web, replicas: 40, nodeSelector: {group: ng, topology.kubernetes.io/zone: us-west-2a}}}
  - {deploy: {name: agent, replicas: 2, hostNetwork: true}}
  - {delete: {pod: web-3, gracePeriod: 0}}
  - {expect: {pod: web-41, state: Running, ipInSubnet: subnet-a, within: 2m}}
  - {delete: {deployment: web}}
`)
	require.Len(t, sc.Steps, 5)
	assert.Equal(t, &DeployStep{Name: "web", Replicas: 40, NodeSelector: map[string]string{"group": "ng", "topology.kubernetes.io/zone": "us-west-2a"}}, sc.Steps[0].Deploy)
	assert.True(t, sc.Steps[1].Deploy.HostNetwork)
	assert.Equal(t, &DeleteStep{Pod: "web-3", GracePeriod0: true}, sc.Steps[2].Delete)
	assert.Equal(t, &PodExpect{Name: "web-41", State: PodRunning, IPInSubnet: "subnet-a"}, sc.Steps[3].Expect.Pod)
	assert.Equal(t, "expect: pod web-41=Running ipInSubnet=subnet-a within 2m", sc.Steps[3].Describe())
	assert.Equal(t, "delete: pod web-3, grace period 0", sc.Steps[2].Describe())
}

// validate's file:line errors for what could only fail mid-run: an
// unknown deployment, a nodeSelector no node satisfies, a pod of a
// deployment never created.
func TestParseWorkloadProblems(t *testing.T) {
	ps := problems(t, workloadBase+`  - {deploy: {name: web, replicas: 4, nodeSelector: {group: gpu}}}
  - {delete: {deployment: wbe}}
  - {expect: {pod: api-1, state: Running}}
  - {deploy: {name: pod, replicas: -1}}
  - {expect: {pod: web-1, state: Runing}}
  - {delete: {deployment: web, gracePeriod: 0}}
`)
	// The rejected web deployment does not exist for later steps either.
	require.Len(t, ps, 8, "%v", ps)
	assert.Equal(t, `bad.yaml:7: steps[0].deploy.nodeSelector: no node has the labels group=gpu, so every pod would stay Pending (the nodes' labels: group=ng, topology.kubernetes.io/zone=us-west-2a)`, ps[0].String())
	assert.Equal(t, 8, ps[1].Line)
	assert.Contains(t, ps[1].Msg, `unknown deployment "wbe"`)
	assert.Contains(t, ps[2].Msg, `no deploy step before this one creates deployment "api"`)
	assert.Contains(t, ps[3].Msg, `bad deployment name "pod"`)
	assert.Contains(t, ps[4].Msg, "want a whole number ≥ 0, got -1")
	assert.Contains(t, ps[5].Msg, `unknown pod state "Runing" (did you mean "Running"?)`)
	assert.Contains(t, ps[7].Msg, "a grace period applies to a pod delete")
}

func TestParseNodeGroups(t *testing.T) {
	sc := parseOK(t, `vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24, az: us-west-2a}]
nodes:
  - {name: ng, count: 1, instanceType: m5.large, subnet: subnet-a, labels: {gpu: "no"}, ipamd: {env: {WARM_IP_TARGET: "5"}}}
  - {name: gpu, count: 0, instanceType: m5.large, subnet: subnet-a, labels: {gpu: "yes"}}
steps:
  - {nodes: {group: ng, add: 2}}
  - {deploy: {name: ml, replicas: 1, nodeSelector: {gpu: "yes"}}}
  - {nodes: {group: ng, remove: 2}}
  - {nodes: {group: ng, add: 1}}
  - {pods: {node: ng-4, add: 1}}
`)
	require.Len(t, sc.Nodes, 1)
	assert.Equal(t, map[string]string{"WARM_IP_TARGET": "5"}, sc.Nodes[0].IPAMDEnv)
	assert.Equal(t, "ng", sc.Nodes[0].Group)
	assert.Equal(t, []string{"ng-2", "ng-3"}, []string{sc.Steps[0].Nodes.Nodes[0].Name, sc.Steps[0].Nodes.Nodes[1].Name})
	assert.Equal(t, "m5.large", sc.Steps[0].Nodes.Nodes[0].InstanceType)
	assert.Equal(t, "nodes: remove 2 from ng (ng-3, ng-2)", sc.Steps[2].Describe())
	assert.Equal(t, "ng-4", sc.Steps[3].Nodes.Nodes[0].Name, "numbers are never reused")

	ps := problems(t, `vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]
nodes:
  - {name: ng, count: 1, instanceType: m5.large, subnet: subnet-a}
  - {name: solo, instanceType: m5.large, subnet: subnet-a}
steps:
  - {nodes: {group: ng, remove: 2}}
  - {nodes: {group: solo, add: 1}}
  - {nodes: {group: ng}}
`)
	require.Len(t, ps, 3, "%v", ps)
	assert.Equal(t, "bad.yaml:8: steps[0].nodes.remove: node group ng has 1 nodes at this step, cannot remove 2", ps[0].String())
	assert.Contains(t, ps[1].Msg, `unknown node group "solo" (groups: ng)`)
	assert.Contains(t, ps[2].Msg, "missing add: N or remove: N")
}
