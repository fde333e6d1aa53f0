package config

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Upstream's networkutils defaults (New, GetConfigForDebug): SNAT on,
// prng, mark 0x80, node-port support on, no exclusions.
func TestSNATDefaultsAsUpstreamNetworkutilsNew(t *testing.T) {
	c, err := FromEnv(envOf(nil))
	require.NoError(t, err)
	assert.False(t, c.ExternalSNAT)
	assert.Equal(t, SNATRandomPRNG, c.RandomizeSNAT)
	assert.Equal(t, uint32(0x80), c.Connmark)
	assert.False(t, c.NodePortSupportDisabled)
	assert.Empty(t, c.ExcludeSNATCIDRs)
	assert.Empty(t, c.ExternalServiceCIDRs)
	assert.Equal(t, "2", c.NetworkUtilsEnv()[EnvRandomizeSNAT], "upstream's snatType: prng is 2")
	assert.Equal(t, "128", c.NetworkUtilsEnv()[EnvConnmark])

	var zero Config
	zero.SetDefaults()
	assert.Equal(t, SNATRandomPRNG, zero.RandomizeSNAT)
	assert.Equal(t, uint32(DefaultConnmark), zero.Connmark)
	assert.Equal(t, DefaultVPCCIDRPeriod, zero.VPCCIDRPeriod)
}

func TestSNATSettingsRead(t *testing.T) {
	c, err := FromEnv(envOf(map[string]string{
		EnvRandomizeSNAT: "hashrandom", EnvConnmark: "0x4000", EnvNodePortSupport: "false",
		EnvExternalServiceCIDRs: "10.100.0.0/16", EnvExcludeSNATCIDRs: "192.168.0.0/16",
	}))
	require.NoError(t, err)
	assert.Equal(t, SNATRandomHash, c.RandomizeSNAT)
	assert.Equal(t, uint32(0x4000), c.Connmark)
	assert.True(t, c.NodePortSupportDisabled)
	assert.Equal(t, "10.100.0.0/16", c.ExternalServiceCIDRs)
	assert.Empty(t, c.Warnings)
	for v, want := range map[string]uint32{"128": 0x80, "0200": 0x80, "0x80000000": 0x80000000} {
		c, err := FromEnv(envOf(map[string]string{EnvConnmark: v}))
		require.NoError(t, err)
		assert.Equal(t, want, c.Connmark, "strconv.ParseInt(%q, 0, 64)", v)
	}
}

// Upstream's typeOfSNAT, getConnmark and getBoolEnvVar: an unusable value
// logs upstream's line and keeps the default; aws-node starts.
func TestBadSNATValuesFallBackAsUpstreamTypeOfSNATAndGetConnmark(t *testing.T) {
	c, err := FromEnv(envOf(map[string]string{EnvRandomizeSNAT: "random", EnvConnmark: "mark", EnvNodePortSupport: "maybe"}))
	require.NoError(t, err)
	assert.Equal(t, SNATRandomPRNG, c.RandomizeSNAT)
	assert.Equal(t, uint32(0x80), c.Connmark)
	assert.False(t, c.NodePortSupportDisabled)
	w := warningFor(t, c.Warnings, EnvRandomizeSNAT)
	assert.Equal(t, `Failed to parse AWS_VPC_K8S_CNI_RANDOMIZESNAT; using default: prng. Provided string was "random"`, w.Log)
	assert.Equal(t, slog.LevelError, w.Level)
	w = warningFor(t, c.Warnings, EnvConnmark)
	assert.Contains(t, w.Log, "Failed to parse AWS_VPC_K8S_CNI_CONNMARK; will use 128, error: strconv.ParseInt")
	assert.Equal(t, slog.LevelInfo, w.Level)
	assert.Equal(t, `Failed to parse AWS_VPC_CNI_NODE_PORT_SUPPORT; using default: true%!(EXTRA string=strconv.ParseBool: parsing "maybe": invalid syntax)`,
		warningFor(t, c.Warnings, EnvNodePortSupport).Log, "upstream's getBoolEnvVar passes the error with no verb for it")

	for _, v := range []string{"0", "-1", "0x100000000"} {
		c, err := FromEnv(envOf(map[string]string{EnvConnmark: v}))
		require.NoError(t, err)
		assert.Equal(t, uint32(0x80), c.Connmark, v)
		assert.Equal(t, "AWS_VPC_K8S_CNI_CONNMARK out of range; will use %!s(int=128)", warningFor(t, c.Warnings, EnvConnmark).Log, v)
	}
}

// Upstream's parseCIDRString: IPv4 CIDRs masked, the rest dropped with
// its line; nothing at all is no list.
func TestParseCIDRsAsUpstreamParseCIDRString(t *testing.T) {
	cidrs, errs := ParseCIDRs(EnvExcludeSNATCIDRs, "192.168.1.5/16, nope,,fd00::/8,0.0.0.0/0")
	assert.Equal(t, []string{"192.168.0.0/16", "0.0.0.0/0"}, cidrs)
	assert.Equal(t, []string{
		" nope from AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS is not a valid CIDR",
		" from AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS is not a valid CIDR",
		"fd00::/8 from AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS is an IPV6 CIDR",
	}, errs)
	cidrs, errs = ParseCIDRs(EnvExcludeSNATCIDRs, "")
	assert.Nil(t, cidrs)
	assert.Empty(t, errs)
}

func TestValidateRefusesUnknownRandomization(t *testing.T) {
	c := Default()
	c.RandomizeSNAT = "sometimes"
	require.ErrorContains(t, c.Validate(), EnvRandomizeSNAT)
}

// enilab validate warns about what upstream's parseCIDRString drops; the
// daemon logs it where upstream does, so the warning has no log line.
func TestBadCIDRsWarnWithoutLogLine(t *testing.T) {
	c, err := FromEnv(envOf(map[string]string{EnvExcludeSNATCIDRs: "10.0.0.0/33", EnvExternalServiceCIDRs: "fd00::/8"}))
	require.NoError(t, err)
	w := warningFor(t, c.Warnings, EnvExcludeSNATCIDRs)
	assert.Equal(t, "10.0.0.0/33 from AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS is not a valid CIDR; the VPC CNI skips it", w.Msg)
	assert.Empty(t, w.Log)
	assert.Contains(t, warningFor(t, c.Warnings, EnvExternalServiceCIDRs).Msg, "is an IPV6 CIDR")
}
