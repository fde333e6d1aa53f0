package node

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func podMessage(l *Lab, name string) string {
	n, full, ok := l.findBound(name)
	if !ok {
		return ""
	}
	st, _ := n.Pod(full)
	return st.Message
}

func waitMessage(t *testing.T, l *Lab, pod, substr string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(podMessage(l, pod), substr) }, 30*time.Second, 5*time.Millisecond,
		"pod %s: want a message with %q, have %q", pod, substr, podMessage(l, pod))
}

// waitBranch waits until the resource controller gave the pod its branch
// ENI (the pod's own datapath comes after, and only with 8021q).
func waitBranch(t *testing.T, l *Lab, pod string) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, full, ok := l.findBound(pod)
		if !ok {
			return false
		}
		_, ok = l.PodENI(full)
		return ok
	}, 30*time.Second, 5*time.Millisecond, "pod %s: want a branch ENI, have message %q", pod, podMessage(l, pod))
}

// The VPC resource controller's part (amazon-vpc-resource-controller-k8s:
// trunk ENI on a node with ENABLE_POD_ENI=true, a branch ENI per pod a
// SecurityGroupPolicy selects, the vpc.amazonaws.com/pod-eni annotation
// upstream ipamd's AddNetwork parses as PodENIData), the branch released
// on a normal delete and leaked on a grace-period-0 one.
func TestSecurityGroupPolicyGivesBranchENIs(t *testing.T) {
	l := fabricLab(t, "sgp", 0, nil)
	ctx := context.Background()
	n, err := l.AddNode(ctx, Spec{Name: "a", InstanceType: "m5.large", IPAMDEnv: map[string]string{EnvEnablePodENI: "true"}})
	require.NoError(t, err)
	db, err := l.CreateSecurityGroup("db-clients")
	require.NoError(t, err)
	require.NoError(t, l.SetSecurityGroupPolicies([]SecurityGroupPolicy{{Name: "db", PodSelector: map[string]string{"role": "db-client"}, SecurityGroups: []string{db}}}))

	require.NoError(t, l.Deploy(ctx, Deployment{Name: "client", Replicas: 2, Labels: map[string]string{"role": "db-client"}}))
	waitBranch(t, l, "client-1")
	waitBranch(t, l, "client-2")
	trunk := n.TrunkENI()
	require.NotEmpty(t, trunk, "the node has a trunk ENI")
	te, _ := l.ec2.ENI(trunk)
	assert.Equal(t, 2, te.DeviceIndex, "the trunk takes the highest free device index of an m5.large (3 ENIs)")

	b1, ok := l.PodENI("a/client-1")
	require.True(t, ok)
	b2, _ := l.PodENI("a/client-2")
	assert.ElementsMatch(t, []int{1, 2}, []int{b1.VlanID, b2.VlanID}, "VLAN ids from 1")
	e, _ := l.ec2.ENI(b1.ENIID)
	assert.Equal(t, "branch", e.InterfaceType)
	assert.Equal(t, []string{db}, e.SecurityGroups)
	assert.Equal(t, e.MAC, b1.IfAddress)
	assert.Equal(t, "10.0.1.0/24", b1.SubnetCIDR)
	var parsed []map[string]any
	require.NoError(t, json.Unmarshal([]byte(b1.Annotation()), &parsed))
	assert.Equal(t, float64(b1.VlanID), parsed[0]["vlanID"], "the key upstream's PodENIData reads")
	assert.Equal(t, b1.PrivateIP, parsed[0]["privateIp"])

	// A normal delete gives the branch back; the replacement gets one.
	require.NoError(t, l.DeletePod(ctx, "client-1", false))
	_, still := l.ec2.ENI(b1.ENIID)
	assert.False(t, still, "a normally deleted pod's branch ENI is deleted")
	waitBranch(t, l, "client-3")

	// Grace period 0: the branch stays in EC2, associated (the leak).
	require.NoError(t, l.DeletePod(ctx, "client-2", true))
	_, still = l.ec2.ENI(b2.ENIID)
	assert.True(t, still, "a force-deleted pod's branch ENI leaks")
	waitBranch(t, l, "client-4")
	assert.Len(t, l.BranchENIs(), 3, "client-3's, client-4's and the leaked one")
}

// A policy naming a group EC2 does not know: the pod stays Pending with
// EC2's InvalidSecurityGroupID.NotFound; pods no policy selects are not
// held up; a node without ENABLE_POD_ENI has no trunk.
func TestSecurityGroupPolicyMissingGroup(t *testing.T) {
	l := fabricLab(t, "sgpm", 0, nil)
	ctx := context.Background()
	n, err := l.AddNode(ctx, Spec{Name: "a", InstanceType: "m5.large", IPAMDEnv: map[string]string{EnvEnablePodENI: "true"}})
	require.NoError(t, err)
	require.NoError(t, l.SetSecurityGroupPolicies([]SecurityGroupPolicy{{Name: "bad", PodSelector: map[string]string{"app": "x"}, SecurityGroups: []string{"sg-0123456789abcdef0"}}}))
	require.NoError(t, l.Deploy(ctx, Deployment{Name: "x", Replicas: 1, Labels: map[string]string{"app": "x"}}))
	waitMessage(t, l, "x-1", "InvalidSecurityGroupID.NotFound")
	st, _ := n.Pod("a/x-1")
	assert.Equal(t, PhasePending, st.Phase)
	assert.Empty(t, l.BranchENIs())

	m, err := l.AddNode(ctx, Spec{Name: "b", InstanceType: "m5.large", Labels: map[string]string{"pool": "plain"}})
	require.NoError(t, err)
	require.NoError(t, l.SetSecurityGroupPolicies([]SecurityGroupPolicy{{Name: "all", SecurityGroups: []string{l.sgID}}}))
	require.NoError(t, l.Deploy(ctx, Deployment{Name: "y", Replicas: 1, NodeSelector: map[string]string{"pool": "plain"}}))
	waitMessage(t, l, "y-1", "Insufficient vpc.amazonaws.com/pod-eni")
	assert.Empty(t, m.TrunkENI())
}

// Branch capacity is the instance type's (m5.large: 9), apart from the IP
// pool: one of ten selected pods waits with EC2's refusal, while its max pods
// (29) would still hold it.
func TestBranchENICapacityPerType(t *testing.T) {
	l := fabricLab(t, "sgpc", 0, nil)
	ctx := context.Background()
	n, err := l.AddNode(ctx, Spec{Name: "a", InstanceType: "m5.large", MaxPods: 29, IPAMDEnv: map[string]string{EnvEnablePodENI: "true"}})
	require.NoError(t, err)
	require.NoError(t, l.SetSecurityGroupPolicies([]SecurityGroupPolicy{{Name: "all", SecurityGroups: []string{l.sgID}}}))
	require.NoError(t, l.Deploy(ctx, Deployment{Name: "c", Replicas: 10}))
	refused := func() (c int) {
		for _, p := range n.Pods() {
			if strings.Contains(p.Message, "maximum number of branch interfaces (9)") {
				c++
			}
		}
		return c
	}
	// Which pod is refused depends on which runner asks last.
	require.Eventually(t, func() bool { return refused() == 1 && n.BranchENIs() == 9 }, 30*time.Second, 5*time.Millisecond)
	assert.Len(t, l.BranchENIs(), 9, "the refused branch ENI is deleted again")
}
