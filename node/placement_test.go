package node

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each ready pod's ENI, device and subnet are where EC2 has its address:
// the ENI holds it, attached at that device index to the node's instance.
func TestPodPlacementMatchesEC2(t *testing.T) {
	l := churnLab(t)
	ctx := context.Background()
	n, err := l.AddNode(ctx, Spec{Name: "node-1", InstanceType: "c5.large"})
	require.NoError(t, err)
	require.NoError(t, n.AddPods(ctx, 12)) // more than the primary ENI's 9
	waitAllReady(t, map[*Node]int{n: 12})
	devices := map[int]bool{}
	for _, p := range n.Pods() {
		e, ok := l.EC2().ENI(p.ENI)
		require.True(t, ok, "%s: ENI %q", p.Name, p.ENI)
		assert.Contains(t, e.SecondaryIPs, p.IP, "%s: EC2 has the address on %s", p.Name, p.ENI)
		assert.Equal(t, n.InstanceID(), e.InstanceID, p.Name)
		assert.Equal(t, e.DeviceIndex, p.Device, p.Name)
		assert.Equal(t, e.SubnetID, p.Subnet, p.Name)
		devices[p.Device] = true
	}
	assert.Equal(t, map[int]bool{0: true, 1: true}, devices, "pods on the primary ENI and the second")
}
