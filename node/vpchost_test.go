package node

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
)

// A database host in the VPC behind its security group: without
// enforcement everyone reaches its port; with it, a node whose ENI is in
// the clients group does and one whose ENI is not times out.
func TestVPCHostBehindSecurityGroup(t *testing.T) {
	l := fabricLab(t, "vh", 0, nil)
	ctx := context.Background()
	n1, err := l.AddNode(ctx, Spec{Name: "node-1", InstanceType: "m5.large"})
	require.NoError(t, err)
	_, err = l.AddNode(ctx, Spec{Name: "node-2", InstanceType: "m5.large"})
	require.NoError(t, err)
	clients, err := l.CreateSecurityGroup("clients")
	require.NoError(t, err)
	db, err := l.CreateSecurityGroup("db")
	require.NoError(t, err)
	require.NoError(t, l.AuthorizeSecurityGroup(ctx, db, fakeec2.SecurityGroupRule{Protocol: "tcp", FromPort: 5432, ToPort: 5432, GroupID: clients}))
	_, err = l.AddVPCHost(ctx, "db", "subnet-a", []string{db}, 5432)
	require.NoError(t, err)
	i1, _ := l.EC2().Instance(n1.InstanceID())
	ec2(t, l, map[string]string{"Action": "ModifyNetworkInterfaceAttribute", "NetworkInterfaceId": i1.ENIs[0].ID, "SecurityGroupId.1": l.sgID, "SecurityGroupId.2": clients})

	require.NoError(t, l.Reach(ctx, "node-2", "db"), "without enforcement the fabric forwards everything")
	require.NoError(t, l.EnforceSecurityGroups(ctx, true))
	assert.NoError(t, l.Reach(ctx, "node-1", "db"), "node-1's ENI is in clients")
	assert.ErrorIs(t, l.Reach(ctx, "node-2", "db"), ErrNoReply, "node-2's ENI is not")
}
