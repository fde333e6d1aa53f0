package scenario

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ipv6Base = `
name: v6
vpc:
  cidr: 10.0.0.0/16
  ipv6: true
  subnets: [{id: subnet-a, cidr: 10.0.0.0/20, az: us-west-2a}]
nodes: [{name: node-1, instanceType: m5.large, subnet: subnet-a}]
steps:
  - {expect: {node: node-1, ipv6Prefixes: 1}}
`

// vpc.ipv6 and the ipv6Prefixes figure parse; ENABLE_IPv6 with
// ENABLE_IPv4=false and prefix delegation is accepted, as upstream's
// isConfigValid accepts it.
func TestParseIPv6Mode(t *testing.T) {
	sc := parseOK(t, ipv6Base+"ipamd:\n  env: {ENABLE_IPv6: \"true\", ENABLE_IPv4: \"false\", ENABLE_PREFIX_DELEGATION: \"true\"}\n")
	assert.True(t, sc.VPC.IPv6)
	require.Len(t, sc.Steps, 1)
	assert.Equal(t, 1, sc.Steps[0].Expect.Figures["ipv6Prefixes"])
}

// Upstream's isConfigValid refuses IPv6 without ENABLE_IPv4=false or
// without prefix delegation; the file says so with upstream's line.
func TestParseIPv6ModeRefusedCombinations(t *testing.T) {
	for env, want := range map[string]string{
		`{ENABLE_IPv6: "true", ENABLE_PREFIX_DELEGATION: "true"}`: "VPC CNI currently does not support dual stack mode",
		`{ENABLE_IPv6: "true", ENABLE_IPv4: "false"}`:             "IPv6 is supported only in Prefix Delegation mode",
		`{ENABLE_IPv4: "false"}`:                                  "IPv4 and IPv6 are both disabled",
	} {
		ps := problems(t, ipv6Base+"ipamd:\n  env: "+env+"\n")
		require.Len(t, ps, 1, "%s: %v", env, ps)
		assert.True(t, strings.Contains(ps.Error(), want), "%s: %v", env, ps)
	}
}
