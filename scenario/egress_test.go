package scenario

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const egressScenario = `
name: egress
vpc:
  cidr: 10.0.0.0/16
  subnets:
    - {id: subnet-a, cidr: 10.0.1.0/24, public: true}
    - {id: subnet-b, cidr: 10.0.2.0/24, natGateway: true}
nodes:
  - {name: node, count: 2, instanceType: c5.large, subnet: subnet-a}
steps:
  - {pods: {node: node-1, add: 2}}
  - {curl: {from: node-1/pod-1, to: internet, expect: ok}}
  - {ping: {from: node-1/pod-1, to: internet}}
  - {curl: {from: node-2, to: internet}}
  - {expect: {egressSource: {pod: node-1/pod-1, ip: nodePublicIP}}}
  - {breakRule: {pod: node-1/pod-2}}
  - {curl: {from: node-1/pod-2, to: internet, expect: timeout}}
`

func TestParseEgressKeys(t *testing.T) {
	sc := parseOK(t, egressScenario)
	assert.True(t, sc.VPC.Subnets[0].Public)
	assert.True(t, sc.VPC.Subnets[1].NATGateway)
	require.Len(t, sc.Steps, 7)
	assert.Equal(t, &CurlStep{From: "node-1/pod-1", To: Internet, ExpectOK: true}, sc.Steps[1].Curl)
	assert.Equal(t, Internet, sc.Steps[2].Ping.To)
	assert.Equal(t, "node-2", sc.Steps[3].Curl.From, "a node's own namespace may send too")
	assert.Equal(t, &EgressSource{From: "node-1/pod-1", IP: EgressNodePublicIP}, sc.Steps[4].Expect.EgressSource)
	assert.False(t, sc.Steps[6].Curl.ExpectOK)
	assert.Equal(t, "curl: node-1/pod-2 → internet, expect timeout", sc.Steps[6].Describe())
}

func TestEgressKeysValidation(t *testing.T) {
	private := strings.NewReplacer(", public: true", "", ", natGateway: true", "").Replace(egressScenario)
	ps := problems(t, private)
	assert.Contains(t, ps.Error(), "steps[1].curl.to: the VPC has no way to the internet")
	assert.Contains(t, ps.Error(), "steps[2].ping.to: the VPC has no way to the internet")

	ps = problems(t, strings.Replace(egressScenario, ", public: true", "", 1))
	assert.Contains(t, ps.Error(), "natGateway needs a public subnet")
	ps = problems(t, strings.Replace(egressScenario, "cidr: 10.0.1.0/24, public: true", "cidr: 10.0.1.0/24, public: true, natGateway: true", 1))
	assert.Contains(t, ps.Error(), "public or has a NAT gateway, not both")
	ps = problems(t, strings.Replace(egressScenario, "ip: nodePublicIP", "ip: nodePublicIp", 1))
	assert.Contains(t, ps.Error(), `unknown address "nodePublicIp" (did you mean "nodePublicIP"?)`)
	ps = problems(t, strings.Replace(egressScenario, "{pod: node-1/pod-1, ip:", "{pod: node-1/pod-7, ip:", 1))
	assert.Contains(t, ps.Error(), `pod "node-1/pod-7" does not exist yet`)
	ps = problems(t, strings.Replace(egressScenario, "to: internet, expect: timeout", "to: internet, expect: fail", 1))
	assert.Contains(t, ps.Error(), `want ok or timeout, got "fail"`)
	ps = problems(t, strings.Replace(egressScenario, "public: true", "public: yes", 1))
	assert.Contains(t, ps.Error(), `want true or false, got "yes"`)
}

func TestRunEgressSteps(t *testing.T) {
	rep, out, err := runFake(t, egressScenario, newFakeLab(), nil)
	require.NoError(t, err, out)
	assert.Contains(t, rep.Steps[1].Message, "connected; the internet host saw 198.51.100.2")
	assert.Contains(t, rep.Steps[6].Message, "timed out, as expected")

	src := strings.Replace(egressScenario, "ip: nodePublicIP", "ip: natGatewayIP", 1)
	src = strings.Replace(src, "egressSource:", "within: 2s, egressSource:", 1)
	_, _, err = runFake(t, src, newFakeLab(), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "egressSource[node-1/pod-1]: want natGatewayIP (198.51.100.3), got 198.51.100.2 (nodePublicIP)")

	src = strings.Replace(egressScenario, "to: internet, expect: timeout", "to: internet", 1)
	_, _, err = runFake(t, src, newFakeLab(), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "curl node-1/pod-2 → internet: want a connection, got timed out: no answer")
}
