package node

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
)

// Security groups in the fabric: an ENI whose groups allow no ingress
// gets nothing; an ingress rule lets that traffic in and its replies out
// (stateful); the node group's own rule keeps nodes talking; turning
// enforcement off removes the table.
func TestFabricEnforcesSecurityGroups(t *testing.T) {
	l := fabricLab(t, "sgf", 0, nil)
	ctx := context.Background()
	n1, err := l.AddNode(ctx, Spec{Name: "node-1", InstanceType: "m5.large"})
	require.NoError(t, err)
	n2, err := l.AddNode(ctx, Spec{Name: "node-2", InstanceType: "m5.large"})
	require.NoError(t, err)
	i1, _ := l.EC2().Instance(n1.InstanceID())
	i2, _ := l.EC2().Instance(n2.InstanceID())
	require.NoError(t, l.EnforceSecurityGroups(ctx, true))
	require.NoError(t, PingFrom(ctx, n1.NetNS(), i2.PrimaryIP), "the node group allows its own members")

	db, err := l.CreateSecurityGroup("db")
	require.NoError(t, err)
	ec2(t, l, map[string]string{"Action": "ModifyNetworkInterfaceAttribute", "NetworkInterfaceId": i2.ENIs[0].ID, "SecurityGroupId.1": db})
	require.NoError(t, l.syncSecurityGroups())
	assert.ErrorIs(t, PingFrom(ctx, n1.NetNS(), i2.PrimaryIP), ErrNoReply, "db allows no ingress")
	assert.ErrorIs(t, PingFrom(ctx, n2.NetNS(), i1.PrimaryIP), ErrNoReply, "the node group allows its members only, and node-2's ENI left it")

	require.NoError(t, l.AuthorizeSecurityGroup(ctx, db, fakeec2.SecurityGroupRule{Protocol: "icmp", FromPort: -1, ToPort: -1, CIDR: netip.MustParsePrefix("10.0.1.0/24")}))
	require.Eventually(t, func() bool { return PingFrom(ctx, n1.NetNS(), i2.PrimaryIP) == nil }, 5*time.Second, 50*time.Millisecond,
		"an icmp rule from the subnet lets the echo in and its reply out")

	require.NoError(t, l.EnforceSecurityGroups(ctx, false))
	ec2(t, l, map[string]string{"Action": "ModifyNetworkInterfaceAttribute", "NetworkInterfaceId": i2.ENIs[0].ID, "SecurityGroupId.1": l.sgID})
	assert.NoError(t, PingFrom(ctx, n1.NetNS(), i2.PrimaryIP))
}
