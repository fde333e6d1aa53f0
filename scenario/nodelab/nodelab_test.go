package nodelab

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2/chaos"
	"github.com/enilab/enilab/ipamd/config"
	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
)

const src = `
seed: 4
timeScale: 0.5
vpc:
  cidr: 10.0.0.0/16
  secondaryCidrs: [100.64.0.0/16]
  subnets:
    - {id: subnet-a, cidr: 10.0.1.0/24, az: us-west-2b, tags: {k: v}}
    - {id: subnet-pods, cidr: 100.64.0.0/19, az: us-west-2b}
  reservations: [{subnet: subnet-a, cidr: 10.0.1.128/25, type: explicit}]
ec2:
  throttle: {AttachNetworkInterface: {capacity: 3, refill: 1}}
  latency: {AssignPrivateIpAddresses: 1s-3s}
  imdsLag: 2s
  describeLag: 1s
ipamd:
  env: {WARM_IP_TARGET: 3, AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: "true", ENI_CONFIG_LABEL_DEF: topology.kubernetes.io/zone}
eniConfigs: [{name: us-west-2b, subnet: subnet-pods, securityGroups: [sg-1]}]
nodes:
  - {name: n, instanceType: c5.large, subnet: subnet-a}
`

func TestScenarioBecomesLabAndChaosConfig(t *testing.T) {
	sc, err := scenario.Parse("t.yaml", []byte(src))
	require.NoError(t, err)

	lc := LabConfig(sc, "enlt-cli-cfg", nil, nil)
	assert.Equal(t, "enlt-cli-cfg", lc.Prefix)
	assert.Equal(t, int64(4), lc.Seed)
	assert.Equal(t, 0.5, lc.TimeScale)
	assert.Equal(t, node.VPCSpec{CIDR: "10.0.0.0/16", SecondaryCIDRs: []string{"100.64.0.0/16"}}, lc.VPC)
	assert.Equal(t, []node.SubnetSpec{
		{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2b", Tags: map[string]string{"k": "v"}},
		{ID: "subnet-pods", CIDR: "100.64.0.0/19", AZ: "us-west-2b"},
	}, lc.Subnets)
	assert.Equal(t, []node.ReservationSpec{{Subnet: "subnet-a", CIDR: "10.0.1.128/25", Type: "explicit"}}, lc.Reservations)
	assert.Equal(t, 2*time.Second, lc.IMDSLag)
	assert.Equal(t, time.Second, lc.DescribeLag)
	assert.Equal(t, "3", lc.IPAMDEnv["WARM_IP_TARGET"], "unquoted YAML numbers reach ipamd as their text")
	assert.Equal(t, []config.ENIConfig{{Name: "us-west-2b", Subnet: "subnet-pods", SecurityGroups: []string{"sg-1"}}}, lc.ENIConfigs)
	assert.Nil(t, lc.Interceptor, "no chaos controller, no interceptor (not a typed nil)")

	cc, err := ChaosConfig(sc)
	require.NoError(t, err)
	assert.Equal(t, int64(4), cc.Seed)
	assert.Equal(t, chaos.ThrottleCustom(map[string]chaos.Bucket{"AttachNetworkInterface": {Capacity: 3, Refill: 1}}), cc.Throttle)
	assert.Equal(t, map[string]chaos.Latency{"AssignPrivateIpAddresses": {Min: time.Second, Max: 3 * time.Second}}, cc.Latency)
}

func TestThrottleWords(t *testing.T) {
	for word, want := range map[string]chaos.Throttle{"aws": chaos.ThrottleAWS, "none": chaos.ThrottleNone} {
		sc := &scenario.Scenario{EC2: scenario.EC2{Throttle: word}}
		cc, err := ChaosConfig(sc)
		require.NoError(t, err)
		assert.Equal(t, want, cc.Throttle, word)
	}
}

// The scenario's words for the aws-node container and the checkpoint step
// are the node's: nodelab passes them through unchanged.
func TestCrashLoopWordsAgreeWithNode(t *testing.T) {
	assert.Equal(t, node.CheckpointActions, scenario.CheckpointActions)
	assert.Equal(t, node.IPAMDRunning, scenario.IPAMDRunning)
	assert.Equal(t, node.IPAMDCrashLoopBackOff, scenario.IPAMDCrashLoopBackOff)
}

// A file's datapath: none reaches the lab, so every node is a fleet node.
func TestDatapathReachesTheLab(t *testing.T) {
	sc, err := scenario.Parse("t.yaml", []byte(strings.Replace(src, "timeScale: 0.5\n", "timeScale: 0.5\ndatapath: none\n", 1)))
	require.NoError(t, err)
	assert.Equal(t, node.DatapathNone, LabConfig(sc, "enlt-cli-dp", nil, nil).Datapath)
}
