package config

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func warningFor(t *testing.T, ws []Warning, name string) Warning {
	t.Helper()
	for _, w := range ws {
		if w.Var == name {
			return w
		}
	}
	t.Fatalf("no warning for %s in %v", name, ws)
	return Warning{}
}

// Upstream's getWarmENITarget, getWarmIPTarget, getMinimumIPTarget,
// getWarmPrefixTarget and getMaxENI ignore a bad value silently;
// parseBoolEnvVar and utils.GetBoolAsStringEnvVar log and keep the default.
func TestBadValuesFallBackAsUpstreamGetWarmENITargetAndParseBoolEnvVar(t *testing.T) {
	c, err := FromEnv(envOf(map[string]string{
		"WARM_ENI_TARGET": "one", "WARM_IP_TARGET": "-3", "MINIMUM_IP_TARGET": "x", "WARM_PREFIX_TARGET": "-1",
		"MAX_ENI": "0", "ENABLE_PREFIX_DELEGATION": "yes please", "ENABLE_SUBNET_DISCOVERY": "nope",
		"AWS_VPC_K8S_CNI_EXTERNALSNAT": "on",
	}))
	require.NoError(t, err)
	assert.Equal(t, 1, c.WarmENITarget)
	assert.Equal(t, 0, c.WarmIPTarget)
	assert.Equal(t, 0, c.MinimumIPTarget)
	assert.Equal(t, 1, c.WarmPrefixTarget)
	assert.Equal(t, -1, c.MaxENI)
	assert.False(t, c.EnablePrefixDelegation)
	assert.True(t, c.EnableSubnetDiscovery)
	assert.False(t, c.ExternalSNAT)
	require.Len(t, c.Warnings, 8)

	w := warningFor(t, c.Warnings, EnvWarmENITarget)
	assert.Equal(t, `"one" is not an integer; the VPC CNI ignores it and uses the default, 1`, w.Msg)
	assert.Empty(t, w.Log, "upstream's getWarmENITarget logs nothing")
	w = warningFor(t, c.Warnings, EnvEnablePrefixDelegation)
	assert.Equal(t, "Failed to parse variable ENABLE_PREFIX_DELEGATION with value yes please as boolean", w.Log)
	assert.Equal(t, slog.LevelError, w.Level)
	w = warningFor(t, c.Warnings, EnvEnableSubnetDiscovery)
	assert.Contains(t, w.Log, "Failed to parse ENABLE_SUBNET_DISCOVERY; using default: true, err: ")
	assert.Equal(t, slog.LevelWarn, w.Level)
	assert.Contains(t, warningFor(t, c.Warnings, EnvMaxENI).Msg, "the instance type's limit")
}

// Upstream's loadAdditionalENITags: bad JSON drops every tag, a key that
// contains k8s.amazonaws.com (anywhere) is dropped alone.
func TestAdditionalTagsAsUpstreamLoadAdditionalENITags(t *testing.T) {
	c, err := FromEnv(envOf(map[string]string{"ADDITIONAL_ENI_TAGS": "team=net"}))
	require.NoError(t, err)
	assert.Empty(t, c.AdditionalENITags)
	assert.Contains(t, warningFor(t, c.Warnings, EnvAdditionalENITags).Log, "failed to parse additional ENI Tags from env ADDITIONAL_ENI_TAGS due to ")

	c, err = FromEnv(envOf(map[string]string{"ADDITIONAL_ENI_TAGS": `{"team":"net","x.k8s.amazonaws.com/y":"1","eks:eni:owner":"me"}`}))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"team": "net", "eks:eni:owner": "me"}, c.AdditionalENITags)
	w := warningFor(t, c.Warnings, EnvAdditionalENITags)
	assert.Equal(t, "ignoring tagKey x.k8s.amazonaws.com/y from additional ENI Tags as it contains reserved prefix k8s.amazonaws.com", w.Log)
}

// The aws-vpc-cni init container's validateEnvVars refuses prefix
// delegation with no target at all: aws-node never starts.
func TestPrefixModeWithoutTargetsRefusedAsUpstreamValidateEnvVars(t *testing.T) {
	_, err := FromEnv(envOf(map[string]string{"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "0"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Setting WARM_PREFIX_TARGET = 0 is not supported while WARM_IP_TARGET/MINIMUM_IP_TARGET is not set")
	_, err = FromEnv(envOf(map[string]string{"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "0", "WARM_IP_TARGET": "5"}))
	require.NoError(t, err)
}
