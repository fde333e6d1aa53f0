package ipamd

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/ipamd/config"
	"github.com/enilab/enilab/ipamd/datastore"
)

var ipv6Env = map[string]string{"ENABLE_IPv6": "true", "ENABLE_IPv4": "false", "ENABLE_PREFIX_DELEGATION": "true"}

// withIPv6 gives the lab's VPC an Amazon-provided /56 and subnet-a a /64
// of it, through the SDK as an EKS IPv6 cluster's VPC is set up.
func (l *testLab) withIPv6() (vpc56, sub64 netip.Prefix) {
	t := l.t
	c := newSDKClient(t.(*testing.T), l.url)
	ctx := context.Background()
	out, err := c.AssociateVpcCidrBlock(ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: aws.String(l.vpc.ID), AmazonProvidedIpv6CidrBlock: aws.Bool(true)})
	require.NoError(t, err)
	vpc56 = netip.MustParsePrefix(aws.ToString(out.Ipv6CidrBlockAssociation.Ipv6CidrBlock))
	b := vpc56.Addr().As16()
	b[7] = 1
	sub64 = netip.PrefixFrom(netip.AddrFrom16(b), 64)
	_, err = c.AssociateSubnetCidrBlock(ctx, &ec2.AssociateSubnetCidrBlockInput{SubnetId: aws.String(l.subnet.ID), Ipv6CidrBlock: aws.String(sub64.String())})
	require.NoError(t, err)
	return vpc56, sub64
}

// Upstream's nodeInit in IPv6 mode (assignIPv6Prefix → AllocIPv6Prefixes):
// one /80 on the primary ENI at start, no ENI attached, no IPv4 taken; pods
// get /128s of it far past the IPv4 max pods of an m5.large (29), answered
// in IPv6Addr with the VPC's /56 in VPCv6CIDRs (rpc_handler AddNetwork).
func TestIPv6ModeAssignIPv6PrefixAndAddNetwork(t *testing.T) {
	l := newTestLab(t)
	vpc56, sub64 := l.withIPv6()
	n := l.newNode(nodeSpec{Type: "m5.large", Env: ipv6Env})
	d := n.start()

	pri := n.ec2PrimaryENI()
	require.Len(t, pri.IPv6Prefixes, 1, "one /80 on the primary ENI")
	p80 := pri.IPv6Prefixes[0]
	assert.Equal(t, 80, p80.Bits())
	assert.True(t, sub64.Contains(p80.Addr()))
	assert.Len(t, n.ec2ENIs(), 1, "IPv6 mode attaches no ENI")
	assert.Empty(t, pri.SecondaryIPs, "IPv6 mode takes no IPv4 address")
	assert.Equal(t, p80, d.IPv6Prefix())

	seen := map[string]bool{}
	for i := 0; i < 40; i++ {
		_, r := n.add()
		require.True(t, r.Success)
		m := r.IPAllocationMetadata[0]
		assert.Empty(t, m.IPv4Addr)
		ip := netip.MustParseAddr(m.IPv6Addr)
		assert.True(t, p80.Contains(ip), "%s in %s", ip, p80)
		assert.False(t, seen[m.IPv6Addr], "duplicate %s", ip)
		seen[m.IPv6Addr] = true
		assert.Equal(t, []string{vpc56.String()}, r.VPCv6CIDRs)
		assert.Empty(t, r.VPCv4CIDRs)
	}
	st := d.Status()
	assert.Equal(t, 40, st.AssignedIPs)
	assert.Equal(t, 110, st.MaxPods, "EKS max pods of an m5.large with prefix delegation (IPv6 mode)")
	assert.Equal(t, p80, st.IPv6Prefix)
	assert.Len(t, n.ec2PrimaryENI().IPv6Prefixes, 1, "no warm pool: still one /80")
}

// Upstream's DelNetwork (UnassignPodIPAddress) in IPv6 mode: the address
// is released and cools down; a pod ipamd does not know is "datastore:
// unknown pod"; the /80 stays.
func TestIPv6ModeDelNetworkReleases(t *testing.T) {
	l := newTestLab(t)
	l.withIPv6()
	n := l.newNode(nodeSpec{Type: "m5.large", Env: ipv6Env})
	d := n.start()
	_, r := n.add()
	require.True(t, r.Success)
	rep, err := n.del("pod-1")
	require.NoError(t, err)
	assert.Equal(t, r.IPAllocationMetadata[0].IPv6Addr, rep.IPAllocationMetadata[0].IPv6Addr)
	assert.Equal(t, 0, d.Status().AssignedIPs)
	_, err = n.del("pod-1")
	require.ErrorContains(t, err, "datastore: unknown pod")
	_, r2 := n.add()
	require.True(t, r2.Success)
	assert.NotEqual(t, r.IPAllocationMetadata[0].IPv6Addr, r2.IPAllocationMetadata[0].IPv6Addr, "the released address cools down")
	assert.Len(t, n.ec2PrimaryENI().IPv6Prefixes, 1)
}

// Upstream's checkpoint in IPv6 mode carries "ipv6" entries; a restarted
// ipamd keeps the /80 EC2 has (GetIPv6PrefixesFromEC2, no second
// AssignIpv6Addresses) and the pods' addresses (ReadAllDataStores).
func TestIPv6ModeCheckpointAndRestart(t *testing.T) {
	l := newTestLab(t)
	l.withIPv6()
	n := l.newNode(nodeSpec{Type: "m5.large", Env: ipv6Env})
	n.start()
	_, r := n.add()
	require.True(t, r.Success)
	b, err := os.ReadFile(n.opts.CheckpointPath)
	require.NoError(t, err)
	var cp map[string]any
	require.NoError(t, json.Unmarshal(b, &cp))
	allocs := cp["allocations"].([]any)
	require.Len(t, allocs, 1)
	e := allocs[0].(map[string]any)
	assert.Equal(t, r.IPAllocationMetadata[0].IPv6Addr, e["ipv6"])
	assert.NotContains(t, e, "ipv4")
	assert.Equal(t, datastore.CheckpointVersion, cp["version"])

	p80 := n.ec2PrimaryENI().IPv6Prefixes[0]
	n.stop()
	d := n.start()
	assert.Equal(t, p80, d.IPv6Prefix())
	assert.Len(t, n.ec2PrimaryENI().IPv6Prefixes, 1)
	again := n.addPod("pod-1")
	assert.Equal(t, r.IPAllocationMetadata[0].IPv6Addr, again.IPAllocationMetadata[0].IPv6Addr, "a repeated ADD keeps its address")
	assert.Equal(t, 1, d.Status().AssignedIPs)
}

// Upstream's /v1/enis in IPv6 mode: the primary ENI with its /80 under
// IPv6Cidrs, IsPrefix, the pod's address in it.
func TestIPv6ModeIntrospection(t *testing.T) {
	l := newTestLab(t)
	l.withIPv6()
	n := l.newNode(nodeSpec{Type: "m5.large", Env: ipv6Env, Modify: func(o *Options) { o.IntrospectionAddr = "127.0.0.1:0" }})
	d := n.start()
	_, r := n.add()
	require.True(t, r.Success)
	resp, err := http.Get("http://" + d.IntrospectionAddr() + "/v1/enis")
	require.NoError(t, err)
	defer resp.Body.Close()
	var byCard map[string]struct {
		AssignedIPs int
		ENIs        map[string]struct {
			IsPrimary          bool
			AvailableIPv4Cidrs map[string]any
			IPv6Cidrs          map[string]struct {
				IsPrefix      bool
				AddressFamily string
				IPAddresses   map[string]struct{ Address string }
			}
		}
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&byCard))
	out := byCard["0"]
	assert.Equal(t, 1, out.AssignedIPs)
	require.Len(t, out.ENIs, 1)
	for _, e := range out.ENIs {
		assert.True(t, e.IsPrimary)
		assert.Empty(t, e.AvailableIPv4Cidrs)
		c, ok := e.IPv6Cidrs[d.IPv6Prefix().String()]
		require.True(t, ok, "%+v", e.IPv6Cidrs)
		assert.True(t, c.IsPrefix)
		assert.Equal(t, "6", c.AddressFamily)
		assert.Contains(t, c.IPAddresses, r.IPAllocationMetadata[0].IPv6Addr)
	}
}

// Upstream's isConfigValid: IPv6 needs ENABLE_IPv4=false and prefix
// delegation, and refuses custom networking, each with upstream's line.
func TestIPv6ConfigCombinationsAsUpstreamIsConfigValid(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ENABLE_IPv6": "true", "ENABLE_PREFIX_DELEGATION": "true"}, "VPC CNI currently does not support dual stack mode"},
		{map[string]string{"ENABLE_IPv4": "false"}, "IPv4 and IPv6 are both disabled. One of them have to be enabled"},
		{map[string]string{"ENABLE_IPv6": "true", "ENABLE_IPv4": "false"}, "IPv6 is supported only in Prefix Delegation mode"},
		{map[string]string{"ENABLE_IPv6": "true", "ENABLE_IPv4": "false", "ENABLE_PREFIX_DELEGATION": "true",
			"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true"}, "Custom Networking is not supported in IPv6 mode"},
	} {
		_, err := config.FromEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
		require.ErrorContains(t, err, tc.want, "%v", tc.env)
		require.ErrorContains(t, err, "ipamd: failed to validate configuration")
	}
	_, err := config.FromEnv(func(k string) (string, bool) { v, ok := ipv6Env[k]; return v, ok })
	require.NoError(t, err)
}

// Upstream's isConfigValid on a non-Nitro instance: IPv6 mode refuses to
// start (where IPv4 prefix delegation only falls back to secondary IPs).
func TestIPv6ModeRefusedOnNonNitro(t *testing.T) {
	l := newTestLab(t)
	l.withIPv6()
	n := l.newNode(nodeSpec{Type: "m4.large", Env: ipv6Env})
	_, err := n.tryStart()
	require.ErrorContains(t, err, "Prefix Delegation is not supported on non-nitro instance m4.large. IPv6 is only supported in Prefix delegation Mode.")
}
