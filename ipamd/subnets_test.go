package ipamd

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/config"
)

func tagged(id string, free int, tags ...string) awsapi.Subnet {
	s := awsapi.Subnet{ID: id, Free: free, Tags: map[string]string{}}
	for i := 0; i+1 < len(tags); i += 2 {
		s.Tags[tags[i]] = tags[i+1]
	}
	return s
}

// Mirrors upstream's isSubnetValidForENICreation, IsSubnetExcluded and
// ValidSubnetTagsMatchingClusterName (pkg/awsutils/awsutils.go).
func TestSubnetRulesAsUpstreamIsSubnetValidForENICreation(t *testing.T) {
	const role, mine, other = awsapi.TagSubnetRoleCNI, awsapi.TagSubnetClusterPart + "lab", awsapi.TagSubnetClusterPart + "prod"
	for _, c := range []struct {
		name            string
		s               awsapi.Subnet
		primary         bool
		cluster         string
		valid, excluded bool
	}{
		{"primary, untagged", tagged("p", 1), true, "lab", true, false},
		{"primary, role 0", tagged("p", 1, role, "0"), true, "lab", false, true},
		{"secondary, untagged", tagged("s", 1), false, "lab", false, false},
		{"secondary, role 1", tagged("s", 1, role, "1"), false, "lab", true, false},
		{"secondary, role any non-0 value", tagged("s", 1, role, "yes"), false, "lab", true, false},
		{"secondary, role 0", tagged("s", 1, role, "0"), false, "lab", false, true},
		{"role 1, this cluster", tagged("s", 1, role, "1", mine, "1"), false, "lab", true, false},
		{"role 1, other cluster", tagged("s", 1, role, "1", other, "1"), false, "lab", false, true},
		{"role 1, both clusters", tagged("s", 1, role, "1", other, "1", mine, "1"), false, "lab", true, false},
		{"role 1, other cluster, CLUSTER_NAME unset", tagged("s", 1, role, "1", other, "1"), false, "", true, false},
		{"primary untagged role, other cluster tag", tagged("p", 1, other, "1"), true, "lab", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.valid, subnetValidForENI(c.s, c.primary, c.cluster), "valid")
			assert.Equal(t, c.excluded, subnetExcluded(c.s, c.cluster), "excluded")
		})
	}
}

// Upstream's GetVpcSubnets sorts by AvailableIpAddressCount, most first, stably.
func TestSubnetsSortedByFreeAsUpstreamGetVpcSubnets(t *testing.T) {
	s := []awsapi.Subnet{tagged("a", 10), tagged("b", 200), tagged("c", 10), tagged("d", 50)}
	sortByFree(s)
	var ids []string
	for _, x := range s {
		ids = append(ids, x.ID)
	}
	assert.Equal(t, []string{"b", "d", "a", "c"}, ids)
}

func (l *testLab) taggedSubnet(id, cidr string, tags map[string]string) {
	_, err := l.ec2.CreateSubnet(fakeec2.SubnetSpec{ID: id, VPCID: l.vpc.ID, CIDR: cidr, AZ: "us-west-2a", Tags: tags})
	require.NoError(l.t, err)
}

// The node's own subnet tagged kubernetes.io/role/cni=0: the primary ENI
// gives no pod addresses, new ENIs go to the tagged subnet with the most
// free addresses, never to an untagged one or one of another cluster
// (upstream's createENI and excludedENIBasedOnSubnetTags).
func TestExcludedPrimarySubnetAsUpstreamCreateENI(t *testing.T) {
	l := newTestLab(t)
	nodeSubnet := "subnet-node"
	l.taggedSubnet(nodeSubnet, "10.0.16.0/24", map[string]string{awsapi.TagSubnetRoleCNI: "0"})
	l.taggedSubnet("subnet-untagged", "10.0.64.0/18", nil)
	l.taggedSubnet("subnet-other", "10.0.128.0/18", map[string]string{awsapi.TagSubnetRoleCNI: "1", awsapi.TagSubnetClusterPart + "prod": "1"})
	l.taggedSubnet("subnet-small", "10.0.17.0/24", map[string]string{awsapi.TagSubnetRoleCNI: "1"})
	l.taggedSubnet("subnet-pods", "10.0.32.0/20", map[string]string{awsapi.TagSubnetRoleCNI: "1", awsapi.TagSubnetClusterPart + "lab": "1"})
	n := l.newNode(nodeSpec{Type: "c5.large", Subnet: nodeSubnet, Env: map[string]string{"CLUSTER_NAME": "lab"}})
	n.start()
	n.addOK(3)

	primary := n.ec2PrimaryENI()
	assert.Empty(t, primary.SecondaryIPs, "the primary ENI of an excluded subnet holds no pod addresses")
	pods := netip.MustParsePrefix("10.0.32.0/20")
	for _, e := range n.ec2ENIs() {
		if e.DeviceIndex == 0 {
			continue
		}
		assert.Equal(t, "subnet-pods", e.SubnetID, "the valid subnet with the most free addresses")
	}
	for _, a := range n.d.store.Assignments() {
		assert.True(t, pods.Contains(a.IP), "pod address %s from subnet-pods", a.IP)
	}
	assert.Contains(t, n.logs.String(), "Marking primary ENI "+primary.ID+" as excluded from pod IP allocation (in excluded subnet subnet-node)")
	assert.Contains(t, n.logs.String(), "Primary subnet subnet-node is excluded from ENI creation")
}

// No valid subnet: upstream's createENI error, and no ENI is created.
func TestNoValidSubnetAsUpstreamCreateENI(t *testing.T) {
	l := newTestLab(t)
	l.taggedSubnet("subnet-node", "10.0.16.0/24", map[string]string{awsapi.TagSubnetRoleCNI: "0"})
	l.taggedSubnet("subnet-untagged", "10.0.64.0/18", nil)
	n := l.newNode(nodeSpec{Type: "c5.large", Subnet: "subnet-node"})
	n.start()
	l.advance(20e9, 5e9)
	_, r := n.add()
	assert.False(t, r.Success, "no pod address anywhere")
	assert.Len(t, n.ec2ENIs(), 1)
	assert.Contains(t, n.logs.String(), "no valid subnets available for ENI creation - all subnets are either not tagged or tagged with kubernetes.io/role/cni=0")
}

// With subnet discovery off the primary's subnet is still checked
// (upstream's createENI, IsSubnetExcluded).
func TestExcludedPrimaryWithoutDiscoveryAsUpstreamCreateENI(t *testing.T) {
	l := newTestLab(t)
	l.taggedSubnet("subnet-node", "10.0.16.0/24", map[string]string{awsapi.TagSubnetRoleCNI: "0"})
	n := l.newNode(nodeSpec{Type: "c5.large", Subnet: "subnet-node", Env: map[string]string{"ENABLE_SUBNET_DISCOVERY": "false"}})
	n.start()
	n.add()
	l.advance(10e9, 5e9)
	assert.Contains(t, n.logs.String(), "primary subnet is tagged with kubernetes.io/role/cni=0 and subnet discovery is disabled - no valid subnets available for ENI creation")
}

// Upstream's isConfigValid: prefix delegation on a non-Nitro type is a
// warning, and ipamd runs in secondary-IP mode.
func TestPrefixDelegationOnXenFallsBackAsUpstreamIsConfigValid(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "c4.large", Env: map[string]string{"ENABLE_PREFIX_DELEGATION": "true"}})
	d := n.start()
	n.addOK(2)
	st := d.Status()
	assert.Zero(t, st.Prefixes)
	assert.Positive(t, st.TotalIPs)
	assert.Empty(t, n.ec2PrimaryENI().Prefixes)
	assert.Contains(t, n.logs.String(), "Prefix delegation is not supported on non-nitro instance c4.large hence falling back to default (secondary IP) mode")
}

// Upstream's buildENITags and TagENI: every managed ENI, the primary too,
// carries the instance id, the cluster name, eks:eni:owner and
// ADDITIONAL_ENI_TAGS; a wrong value is corrected at the next start.
func TestENITagsAsUpstreamBuildENITagsAndTagENI(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "c5.large", Env: map[string]string{
		"CLUSTER_NAME": "old", "ADDITIONAL_ENI_TAGS": `{"team":"net","my.k8s.amazonaws.com/x":"y"}`,
	}})
	n.start()
	n.addOK(12) // a second ENI
	require.GreaterOrEqual(t, len(n.ec2ENIs()), 2)
	n.stop()
	n.env["CLUSTER_NAME"] = "lab"
	n.start()
	for _, e := range n.ec2ENIs() {
		assert.Equal(t, n.inst.ID, e.Tags[awsapi.TagInstanceID], e.ID)
		assert.Equal(t, "lab", e.Tags[awsapi.TagCluster], e.ID)
		assert.Equal(t, "amazon-vpc-cni", e.Tags["eks:eni:owner"], e.ID)
		assert.Equal(t, "net", e.Tags["team"], e.ID)
		assert.NotContains(t, e.Tags, "my.k8s.amazonaws.com/x", e.ID)
	}
	assert.Contains(t, n.logs.String(), "ignoring tagKey my.k8s.amazonaws.com/x from additional ENI Tags as it contains reserved prefix k8s.amazonaws.com")
	assert.True(t, strings.Contains(n.logs.String(), "level=WARN"))
}

// Upstream's GetNodeSpecificENIConfigName: the externalEniConfig label,
// then the annotation ENI_CONFIG_ANNOTATION_DEF names, then the label
// ENI_CONFIG_LABEL_DEF names, then "default".
func TestENIConfigNameAsUpstreamGetNodeSpecificENIConfigName(t *testing.T) {
	cfg := config.Default()
	d := &Daemon{cfg: cfg}
	assert.Equal(t, "default", d.eniConfigName())
	d.opts.NodeLabels = map[string]string{cfg.ENIConfigLabelDef: "by-label"}
	assert.Equal(t, "by-label", d.eniConfigName())
	d.opts.NodeAnnotations = map[string]string{cfg.ENIConfigAnnotationDef: "by-annotation"}
	assert.Equal(t, "by-annotation", d.eniConfigName())
	d.opts.NodeLabels[config.ExternalENIConfigLabel] = "external"
	assert.Equal(t, "external", d.eniConfigName())
}

// A subnet tagged kubernetes.io/role/cni=0 while the node runs: at the
// next start ipamd marks the ENIs in it excluded and gives back their
// unassigned addresses; a running pod keeps its own (upstream's
// checkAndHandleAllENIExclusion and cleanupExcludedENI).
func TestExcludedENIsGiveBackFreeAddressesAsUpstreamCleanupExcludedENI(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "c5.large"})
	d := n.start()
	n.addOK(1)
	require.Positive(t, len(n.ec2PrimaryENI().SecondaryIPs))
	require.NoError(t, d.ec2.CreateTags(context.Background(), l.subnet.ID, map[string]string{awsapi.TagSubnetRoleCNI: "0"}))
	n.stop()
	n.start()
	assert.Len(t, n.ec2PrimaryENI().SecondaryIPs, 1, "only the running pod's address stays")
	assert.Contains(t, n.logs.String(), "checkAndHandleAllENIExclusion: cleaning up unassigned resources from excluded primary ENI")
	_, r := n.add()
	assert.False(t, r.Success, "no other subnet is tagged for pods")
}
