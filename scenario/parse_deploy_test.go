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
