package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// When a subnet runs out, ipamd's error (EC2's InsufficientFreeAddressesInSubnet)
// is a node event as it happens, and a pod waiting for an address says why
// in the kubelet's words with ipamd's cause.
func TestSubnetExhaustionIsAnEventAndThePendingReason(t *testing.T) {
	needRoot(t)
	prefix := testPrefix(t, "cause")
	require.NoError(t, Sweep(prefix))
	l, err := NewLab(context.Background(), LabConfig{
		Prefix: prefix, Seed: 3, TimeScale: 0.02,
		// A /28 holds 11 addresses: the node's primary ENI takes 10.
		Subnets: []SubnetSpec{{ID: "subnet-small", CIDR: "10.0.1.0/28", AZ: "us-west-2a"}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "c5.large"})
	require.NoError(t, err)
	require.NoError(t, n.AddPods(context.Background(), 10))

	var pending PodStatus
	require.Eventually(t, func() bool {
		for _, p := range n.Pods() {
			if p.Phase == PhasePending && strings.Contains(p.Message, "InsufficientFreeAddressesInSubnet") {
				pending = p
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "a pending pod naming the cause")
	assert.True(t, strings.HasPrefix(pending.Message, "FailedCreatePodSandBox: "), pending.Message)
	assert.Contains(t, pending.Message, "(ipamd: Failed to ")

	var causes []string
	for _, e := range n.IPAMDStatus().Events {
		if e.Warning {
			causes = append(causes, e.Message)
		}
	}
	require.NotEmpty(t, causes)
	assert.Contains(t, strings.Join(causes, "\n"), "ipamd: Failed to CreateNetworkInterface")
	assert.Contains(t, strings.Join(causes, "\n"), "InsufficientFreeAddressesInSubnet")
	shapes := map[string]int{}
	for _, c := range causes {
		shapes[idsAndNumbers.ReplaceAllString(c, "#")]++
	}
	for s, count := range shapes {
		assert.Equal(t, 1, count, "shown once within a minute of lab time: %s", s)
	}
}
