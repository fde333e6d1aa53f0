package scenario

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const matrixBase = `
name: warm
seed: 7
vpc: {cidr: 10.0.0.0/16, subnets: [{id: subnet-a, cidr: 10.0.1.0/24, az: us-west-2a}]}
ipamd: {env: {WARM_ENI_TARGET: "1"}}
nodes: [{name: node-1, instanceType: m5.large, subnet: subnet-a}]
steps:
  - {pods: {node: node-1, add: 5}}
`

// Every combination is a variant: the file with those values set, the
// first axis varying slowest, seed and steps unchanged.
func TestMatrixVariants(t *testing.T) {
	vs, err := ParseVariants("m.yaml", []byte(matrixBase+`
matrix:
  ipamd.env.WARM_IP_TARGET: ["0", "5"]
  nodes.0.instanceType: [m5.large, c5.xlarge]
`))
	require.NoError(t, err)
	require.Len(t, vs, 4)
	assert.Equal(t, "WARM_IP_TARGET=0 instanceType=m5.large", vs[0].Name)
	assert.Equal(t, "WARM_IP_TARGET=5 instanceType=c5.xlarge", vs[3].Name)
	for _, v := range vs {
		assert.EqualValues(t, 7, v.Scenario.Seed)
		assert.Equal(t, "1", v.Scenario.IPAMDEnv["WARM_ENI_TARGET"], "the rest of the file is kept")
		assert.Len(t, v.Scenario.Steps, 1)
		assert.Empty(t, v.Scenario.Matrix)
	}
	assert.Equal(t, "5", vs[2].Scenario.IPAMDEnv["WARM_IP_TARGET"])
	assert.Equal(t, "c5.xlarge", vs[1].Scenario.Nodes[0].InstanceType)

	// A file without a matrix is one variant, named as the scenario.
	vs, err = ParseVariants("m.yaml", []byte(matrixBase))
	require.NoError(t, err)
	require.Len(t, vs, 1)
	assert.Equal(t, "warm", vs[0].Name)
}

// A value that makes a variant invalid is reported with the variant it
// breaks and the line of the value; a malformed matrix is refused at its
// own lines.
func TestMatrixProblems(t *testing.T) {
	_, err := ParseVariants("m.yaml", []byte(matrixBase+`
matrix:
  nodes.0.instanceType: [m5.large, m5.huge]
`))
	var probs Problems
	require.True(t, errors.As(err, &probs), "%v", err)
	require.Len(t, probs, 1)
	assert.Contains(t, probs[0].Msg, "in variant instanceType=m5.huge")
	assert.Equal(t, 11, probs[0].Line, "the line of the bad value")

	_, err = ParseVariants("m.yaml", []byte(matrixBase+`
matrix:
  ipamd.env.WARM_IP_TARGET: []
  steps.0: [x]
`))
	require.True(t, errors.As(err, &probs), "%v", err)
	assert.Len(t, probs, 2)
}

// Compare reads the figures a comparison table shows.
func TestCompareFigures(t *testing.T) {
	rep := &Report{Passed: false,
		Nodes:   []NodeReport{{TotalIPs: 18, WarmIPs: 13}, {TotalIPs: 9, WarmIPs: 4}},
		Subnets: []SubnetReport{{CIDR: "10.0.1.0/24", Free: 200}},
		EC2:     EC2Report{Calls: map[string]int{"A": 3, "B": 4}, Throttled: 2},
		Steps:   []StepReport{{OK: true}, {OK: false}},
		Pods:    PodsReport{ReadyLatencyMs: Percentiles{P50: 800}}}
	c := Compare("v", rep)
	assert.InDelta(t, 13.5, c.IPsPerNode, 1e-9)
	assert.InDelta(t, 8.5, c.WarmPerNode, 1e-9)
	assert.Equal(t, 251-200, c.SubnetUsed)
	assert.Equal(t, 7, c.EC2Calls)
	assert.Equal(t, 2, c.Throttled)
	assert.Equal(t, 1, c.FailedSteps)
	assert.EqualValues(t, 800, c.Ready.P50)
}
