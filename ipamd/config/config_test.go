package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigDefaultsAreUpstreams(t *testing.T) {
	c, err := FromEnv(envOf(nil))
	require.NoError(t, err)
	assert.Equal(t, 1, c.WarmENITarget)
	assert.Equal(t, 0, c.WarmIPTarget)
	assert.Equal(t, 0, c.MinimumIPTarget)
	assert.Equal(t, 1, c.WarmPrefixTarget)
	assert.Equal(t, -1, c.MaxENI)
	assert.False(t, c.EnablePrefixDelegation)
	assert.False(t, c.CustomNetworking)
	assert.True(t, c.EnableSubnetDiscovery)
	assert.Equal(t, "k8s.amazonaws.com/eniConfig", c.ENIConfigLabelDef)
	assert.Equal(t, 30*time.Second, c.IPCooldown)
	assert.Equal(t, 9001, c.ENIMTU)
	assert.Equal(t, 9001, c.PodMTU)
	assert.Equal(t, "eni", c.VethPrefix)
	assert.Equal(t, 5*time.Second, c.PoolCheckPeriod)
	assert.Equal(t, 60*time.Second, c.ReconcilePeriod)
	assert.Equal(t, 30*time.Second, c.DecreaseGap)
	assert.Equal(t, 60*time.Second, c.ENIMinAge)
	assert.Equal(t, 120*time.Second, c.SubnetPause)
	assert.Equal(t, time.Hour, c.LeakScanPeriod)
}

func TestConfigFromEnvReadsEveryVariable(t *testing.T) {
	c, err := FromEnv(envOf(map[string]string{
		"WARM_ENI_TARGET": "0", "WARM_IP_TARGET": "5", "MINIMUM_IP_TARGET": "30", "WARM_PREFIX_TARGET": "2",
		"ENABLE_PREFIX_DELEGATION": "true", "MAX_ENI": "2", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true",
		"ENI_CONFIG_LABEL_DEF": "topology.kubernetes.io/zone", "ENABLE_SUBNET_DISCOVERY": "false",
		"IP_COOLDOWN_PERIOD": "5", "DISABLE_LEAKED_ENI_CLEANUP": "true", "AWS_VPC_ENI_MTU": "1500",
		"AWS_VPC_K8S_CNI_VETHPREFIX": "veth", "AWS_VPC_K8S_CNI_EXTERNALSNAT": "true", "CLUSTER_NAME": "lab",
		"ADDITIONAL_ENI_TAGS": `{"team":"net"}`, "AWS_VPC_K8S_CNI_LOGLEVEL": "info",
	}))
	require.NoError(t, err)
	assert.Equal(t, 0, c.WarmENITarget)
	assert.Equal(t, 5, c.WarmIPTarget)
	assert.Equal(t, 30, c.MinimumIPTarget)
	assert.Equal(t, 2, c.WarmPrefixTarget)
	assert.True(t, c.EnablePrefixDelegation)
	assert.Equal(t, 2, c.MaxENI)
	assert.True(t, c.CustomNetworking)
	assert.Equal(t, "topology.kubernetes.io/zone", c.ENIConfigLabelDef)
	assert.False(t, c.EnableSubnetDiscovery)
	assert.Equal(t, 5*time.Second, c.IPCooldown)
	assert.True(t, c.DisableLeakedENICleanup)
	assert.Equal(t, 1500, c.ENIMTU)
	assert.Equal(t, 1500, c.PodMTU, "POD_MTU follows AWS_VPC_ENI_MTU when unset")
	assert.Equal(t, "veth", c.VethPrefix)
	assert.True(t, c.ExternalSNAT)
	assert.Equal(t, "lab", c.ClusterName)
	assert.Equal(t, map[string]string{"team": "net"}, c.AdditionalENITags)
	assert.Equal(t, "5", c.IPAMDEnv()["IP_COOLDOWN_PERIOD"])
}

// The aws-vpc-cni init container refuses these (upstream's validateEnvVars
// in cmd/aws-vpc-cni): aws-node never starts.
func TestConfigErrorNamesEveryBadVariable(t *testing.T) {
	_, err := FromEnv(envOf(map[string]string{
		"AWS_VPC_ENI_MTU": "100", "AWS_VPC_K8S_CNI_VETHPREFIX": "toolong", "AWS_VPC_K8S_CNI_LOGLEVEL": "LOUD", "IP_COOLDOWN_PERIOD": "soon",
	}))
	require.Error(t, err)
	for _, name := range []string{"AWS_VPC_ENI_MTU", "AWS_VPC_K8S_CNI_VETHPREFIX", "AWS_VPC_K8S_CNI_LOGLEVEL", "IP_COOLDOWN_PERIOD"} {
		assert.Contains(t, err.Error(), name)
	}
}

func TestConfigZeroValueIsUsable(t *testing.T) {
	var c Config
	c.SetDefaults()
	require.NoError(t, c.Validate())
	assert.Equal(t, 5*time.Second, c.PoolCheckPeriod)
	assert.Equal(t, "eni", c.VethPrefix)
}
