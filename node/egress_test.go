package node

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestEgressConfigValidate(t *testing.T) {
	err := LabConfig{Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", NATGateway: true}}}.Validate()
	assert.ErrorContains(t, err, "natGateway needs a public subnet")
	err = LabConfig{Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", NATGateway: true, Public: true}}}.Validate()
	assert.ErrorContains(t, err, "public and natGateway")
	assert.NoError(t, LabConfig{Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", Public: true},
		{ID: "subnet-b", CIDR: "10.0.2.0/24", NATGateway: true}}}.Validate())
}

// egressLab has a public subnet (node-pub) and a private one with a NAT
// gateway (node-priv); external SNAT is on, so pods egress with their own
// address whether or not ipamd installs SNAT rules.
func egressLab(t testing.TB, tag string) *Lab {
	t.Helper()
	return testLab(t, tag, LabConfig{
		Seed: 3, TimeScale: 0.02, Backend: BackendVeth,
		Subnets: []SubnetSpec{
			{ID: "subnet-pub", CIDR: "10.0.1.0/24", AZ: "us-west-2a", Public: true},
			{ID: "subnet-priv", CIDR: "10.0.2.0/24", AZ: "us-west-2a", NATGateway: true},
		},
		IPAMDEnv: map[string]string{"AWS_VPC_K8S_CNI_EXTERNALSNAT": "true", "WARM_IP_TARGET": "2"},
	})
}

// The internet gateway maps an instance's primary address 1:1 to its public
// address and drops a private source it has no mapping for; a private
// subnet's traffic leaves through its NAT gateway's Elastic IP.
func TestEgressInternetGatewayAndNATGateway(t *testing.T) {
	l := egressLab(t, "eg")
	ctx := context.Background()
	pub, err := l.AddNode(ctx, Spec{Name: "node-pub", InstanceType: "m5.large", Subnet: "subnet-pub"})
	require.NoError(t, err)
	priv, err := l.AddNode(ctx, Spec{Name: "node-priv", InstanceType: "m5.large", Subnet: "subnet-priv"})
	require.NoError(t, err)
	inst, ok := l.EC2().Instance(pub.InstanceID())
	require.True(t, ok)
	require.True(t, inst.PublicIP.IsValid(), "launched in a public subnet: a public address")
	nats := l.NATGateways()
	require.Len(t, nats, 1)

	seen, err := l.Curl(ctx, "node-pub")
	require.NoError(t, err)
	assert.Equal(t, inst.PublicIP, seen, "the node's primary address leaves as its public address")
	got, ok := l.EgressSource("node-pub")
	assert.True(t, ok)
	assert.Equal(t, inst.PublicIP, got)
	require.NoError(t, l.PingInternet(ctx, "node-pub"))
	seen, err = l.Curl(ctx, "node-priv")
	require.NoError(t, err)
	assert.Equal(t, nats[0].PublicIP, seen, "a private subnet leaves through the NAT gateway's Elastic IP")

	require.NoError(t, pub.AddPods(ctx, 1))
	require.NoError(t, priv.AddPods(ctx, 1))
	require.Eventually(t, func() bool { return pub.Status().ReadyPods == 1 && priv.Status().ReadyPods == 1 }, 60*time.Second, 10*time.Millisecond)
	_, err = l.Curl(ctx, "node-pub/pod-1")
	assert.True(t, errors.Is(err, ErrNoReply), "a pod address without a public mapping is dropped at the internet gateway: %v", err)
	podPriv, _ := l.Pod("node-priv/pod-1")
	seen, err = l.Curl(ctx, "node-priv/pod-1")
	require.NoError(t, err)
	assert.Equal(t, nats[0].PublicIP, seen, "pod %s behind the NAT gateway", podPriv.IP)
	assert.NotEqual(t, podPriv.IP, seen)

	assertRootHasNoLabNAT(t)
}

// assertRootHasNoLabNAT: the root namespace holds none of the lab's nft
// tables and no conntrack entry to the internet host.
func assertRootHasNoLabNAT(t *testing.T) {
	t.Helper()
	c, err := nftables.New()
	require.NoError(t, err)
	tables, err := c.ListTables()
	require.NoError(t, err)
	for _, tb := range tables {
		assert.NotContains(t, []string{IGWTable, NATTable}, tb.Name, "a lab table in the root namespace")
	}
	flows, err := netlink.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil {
		t.Logf("conntrack not readable in the root namespace (%v): nothing to check", err)
		return
	}
	for _, f := range flows {
		a, _ := netip.AddrFromSlice(f.Forward.DstIP)
		assert.NotEqual(t, InternetHost, a.Unmap(), "a conntrack entry of the lab in the root namespace: %s", f)
	}
}

// Nodes cannot take the names of the lab's own namespaces.
func TestEgressReservedNodeNames(t *testing.T) {
	l := fabricLab(t, "er", 0, nil)
	_, err := l.AddNode(context.Background(), Spec{Name: "igw", InstanceType: "m5.large"})
	assert.ErrorContains(t, err, "taken by the lab's own namespaces")
	_, err = l.Curl(context.Background(), "node-1")
	assert.ErrorIs(t, err, ErrNoInternet)
}
