package node

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/rpc"
)

// ipamd's part of security groups for pods, with a real ipamd: the trunk
// ENI the controller attached never holds pod addresses (upstream's
// setupENI with isTrunkENI), and AddNetwork for a pod with the
// vpc.amazonaws.com/pod-eni annotation answers from it (upstream's
// rpc_handler.go AddNetwork: PodVlanId, PodENIMAC, PodENISubnetGW, the
// trunk link's index as ParentIfIndex, the branch's address).
func TestIPAMDAddNetworkForBranchPod(t *testing.T) {
	needRoot(t)
	l := churnLab(t)
	ctx := context.Background()
	n, err := l.AddNode(ctx, Spec{Name: "a", InstanceType: "m5.large", IPAMDEnv: map[string]string{EnvEnablePodENI: "true"}})
	require.NoError(t, err)
	trunk := n.TrunkENI()
	require.NotEmpty(t, trunk, "a node with ENABLE_POD_ENI=true gets its trunk ENI when it joins")
	require.NoError(t, l.SetSecurityGroupPolicies([]SecurityGroupPolicy{{Name: "db", PodSelector: map[string]string{"role": "db"}, SecurityGroups: []string{l.sgID}}}))
	require.NoError(t, l.Deploy(ctx, Deployment{Name: "c", Replicas: 1, Labels: map[string]string{"role": "db"}}))
	waitBranch(t, l, "c-1")
	b, ok := l.PodENI("a/c-1")
	require.True(t, ok)

	conn, err := grpc.NewClient("unix://"+n.ipamdOpts.SocketPath, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := rpc.NewCNIBackendClient(conn)
	req := &rpc.AddNetworkRequest{K8S_POD_NAME: "c-1", K8S_POD_NAMESPACE: PodNamespace, ContainerID: "cid-1", IfName: "eth0", NetworkName: "aws-cni", ClientVersion: rpc.Version}
	var reply *rpc.AddNetworkReply
	// ipamd learns of the trunk at its next reconcile (lab minutes).
	require.Eventually(t, func() bool {
		reply, err = client.AddNetwork(ctx, req)
		return err == nil && reply.Success
	}, 2*time.Minute, 50*time.Millisecond, "AddNetwork for the branch pod")
	assert.Equal(t, b.PrivateIP, reply.IPAllocationMetadata[0].IPv4Addr)
	assert.EqualValues(t, b.VlanID, reply.PodVlanId)
	assert.Equal(t, b.IfAddress, reply.PodENIMAC)
	assert.Equal(t, "10.0.0.1", reply.PodENISubnetGW)
	te, _ := l.ec2.ENI(trunk)
	h, err := nsutil.Handle(n.NetNS())
	require.NoError(t, err)
	defer h.Close()
	links, err := h.LinkList()
	require.NoError(t, err)
	index := 0
	for _, link := range links {
		if link.Attrs().HardwareAddr.String() == te.MAC {
			index = link.Attrs().Index
		}
	}
	assert.NotZero(t, index, "the trunk ENI has a link in the node namespace")
	assert.EqualValues(t, index, reply.ParentIfIndex)
	assert.Empty(t, te.SecondaryIPs, "ipamd put no pod addresses on the trunk ENI")
	assert.Empty(t, te.Prefixes)
}
