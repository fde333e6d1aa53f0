package scenario

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What the VPC CNI accepts but does differently is a warning, and the
// scenario still parses: upstream's getWarmIPTarget and getMaxENI ignore a
// bad value, isConfigValid runs prefix delegation on a xen type in
// secondary-IP mode, loadAdditionalENITags drops reserved keys, and an
// unknown variable is ignored.
func TestWarningsAsUpstreamIsConfigValidAndGetWarmIPTarget(t *testing.T) {
	base := "vpc:\n  cidr: 10.0.0.0/16\n  subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]\n"
	for _, tc := range []struct {
		name, src, field, msg string
		line                  int
	}{
		{"ipamd variable typo", "ipamd:\n  env: {WARM_IP_TARGETS: \"1\"}\n", "ipamd.env.WARM_IP_TARGETS", `the VPC CNI ignores it (did you mean "WARM_IP_TARGET"?)`, 2},
		{"prefix added", "ipamd:\n  env: {AWS_VPC_K8S_CNI_WARM_ENI_TARGET: \"2\"}\n", "ipamd.env.AWS_VPC_K8S_CNI_WARM_ENI_TARGET", `did you mean "WARM_ENI_TARGET"?`, 2},
		{"prefix missing", "ipamd:\n  env: {EXTERNALSNAT: \"true\"}\n", "ipamd.env.EXTERNALSNAT", `did you mean "AWS_VPC_K8S_CNI_EXTERNALSNAT"?`, 2},
		{"restart env typo", "nodes:\n  - {name: node-1, instanceType: c5.large, subnet: subnet-a}\nsteps:\n  - {restart: {node: node-1, env: {ENABLE_PREFIX_DELEGATON: \"true\"}}}\n", "steps[0].restart.env.ENABLE_PREFIX_DELEGATON", `did you mean "ENABLE_PREFIX_DELEGATION"?`, 4},
		{"ipamd number", "ipamd:\n  env: {WARM_IP_TARGET: lots}\n", "ipamd.env.WARM_IP_TARGET", `"lots" is not an integer; the VPC CNI ignores it and uses none (unset)`, 2},
		{"ipamd range", "ipamd:\n  env:\n    MAX_ENI: -5\n", "ipamd.env.MAX_ENI", `"-5" is below 1; the VPC CNI ignores it and uses the instance type's limit`, 3},
		{"bool", "ipamd:\n  env: {ENABLE_SUBNET_DISCOVERY: maybe}\n", "ipamd.env.ENABLE_SUBNET_DISCOVERY", `"maybe" is not a boolean; the VPC CNI uses the default, true`, 2},
		{"reserved tag", "ipamd:\n  env: {ADDITIONAL_ENI_TAGS: '{\"node.k8s.amazonaws.com/x\":\"1\"}'}\n", "ipamd.env.ADDITIONAL_ENI_TAGS", "the VPC CNI drops this tag", 2},
		{"annotation", "ipamd:\n  env: {ENI_CONFIG_ANNOTATION_DEF: my/eniConfig}\n", "ipamd.env.ENI_CONFIG_ANNOTATION_DEF", "lab nodes have no annotations", 2},
		{"prefix delegation on xen", "ipamd:\n  env: {ENABLE_PREFIX_DELEGATION: \"true\"}\nnodes:\n  - {name: x, instanceType: c4.large, subnet: subnet-a}\n", "nodes[0].instanceType",
			"Prefix delegation is not supported on non-nitro instance c4.large hence falling back to default (secondary IP) mode", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src + base
			if !strings.Contains(src, "nodes:") {
				src += "nodes:\n  - {name: node-1, instanceType: c5.large, subnet: subnet-a}\n"
			}
			sc, err := Parse("w.yaml", []byte(src))
			require.NoError(t, err, "a warning is not a problem")
			var found bool
			for _, w := range sc.Warnings {
				if w.Field == tc.field && strings.Contains(w.Msg, tc.msg) {
					found = true
					assert.Equal(t, tc.line, w.Line, "line of %s", w)
				}
			}
			assert.True(t, found, "want a warning at %s containing %q, got:\n%v", tc.field, tc.msg, sc.Warnings)
		})
	}
}
