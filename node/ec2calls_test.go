package node

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An idle node makes no EC2 calls after start-up, as upstream's ipamd: its
// reconcile (nodeIPPoolReconcile) reads IMDS and calls EC2 only when IMDS
// and the datastore disagree; limits come from the built-in table. Counted
// by the lab's chaos layer, as a user sees them in a report.
func TestIdleNodeMakesNoEC2Calls(t *testing.T) {
	needRoot(t)
	prefix := testPrefix(t, "idle")
	require.NoError(t, Sweep(prefix))
	l, err := NewLab(context.Background(), LabConfig{
		Prefix: prefix, Seed: 7, TimeScale: 0.005,
		Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "m5.large",
		IPAMDEnv: map[string]string{"DISABLE_LEAKED_ENI_CLEANUP": "true"}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return n.Status().TotalIPs >= 9 }, 30*time.Second, 10*time.Millisecond, "the warm pool fills")
	assert.Zero(t, l.EC2Counters().Calls["DescribeInstanceTypes"], "m5.large is in the built-in table")

	clk := l.Clock()
	settle := clk.Now().Add(time.Minute)
	require.Eventually(t, func() bool { return clk.Now().After(settle) }, 30*time.Second, 10*time.Millisecond)
	before := l.EC2Counters()
	until := clk.Now().Add(10 * time.Minute)
	require.Eventually(t, func() bool { return clk.Now().After(until) }, 60*time.Second, 10*time.Millisecond)
	after := l.EC2Counters()
	assert.Equal(t, before.TotalCalls, after.TotalCalls, "EC2 calls over 10 idle minutes: before %v, after %v", before.Calls, after.Calls)
	assert.Equal(t, 9, n.Status().TotalIPs)
}
