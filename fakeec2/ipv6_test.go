package fakeec2_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v6Lab is newLab with the VPC's Amazon-provided /56 and subnet-a's /64,
// set up through the SDK as an EKS IPv6 cluster's VPC is.
type v6Lab struct {
	*lab
	vpc56, sub64 netip.Prefix
}

func newV6Lab(t *testing.T, typ string) *v6Lab {
	t.Helper()
	l := newLab(t, typ)
	out, err := l.ec2.AssociateVpcCidrBlock(l.ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: aws.String(l.vpc.ID), AmazonProvidedIpv6CidrBlock: aws.Bool(true)})
	require.NoError(t, err)
	vpc56 := netip.MustParsePrefix(aws.ToString(out.Ipv6CidrBlockAssociation.Ipv6CidrBlock))
	assert.Equal(t, 56, vpc56.Bits())
	assert.Equal(t, "Amazon", aws.ToString(out.Ipv6CidrBlockAssociation.Ipv6Pool))
	b := vpc56.Addr().As16()
	b[7] = 1
	sub64 := netip.PrefixFrom(netip.AddrFrom16(b), 64)
	_, err = l.ec2.AssociateSubnetCidrBlock(l.ctx, &ec2.AssociateSubnetCidrBlockInput{SubnetId: aws.String(l.sub.ID), Ipv6CidrBlock: aws.String(sub64.String())})
	require.NoError(t, err)
	return &v6Lab{lab: l, vpc56: vpc56, sub64: sub64}
}

// Upstream's IPv6 mode asks EC2 for one /80 on the primary ENI
// (awsutils.AllocIPAddresses with Ipv6PrefixCount 1, ipamd's
// tryAssignPrefixes in v6); Describe and IMDS then show it where upstream
// reads it (imds.GetIPv6Prefixes: macs/<mac>/ipv6-prefix).
func TestIPv6PrefixOnThePrimaryENIAsUpstreamAllocIPAddresses(t *testing.T) {
	l := newV6Lab(t, "m5.large")
	eni := l.inst.ENIs[0]
	out, err := l.ec2.AssignIpv6Addresses(l.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: aws.String(eni.ID), Ipv6PrefixCount: aws.Int32(1)})
	require.NoError(t, err)
	require.Len(t, out.AssignedIpv6Prefixes, 1)
	p80 := netip.MustParsePrefix(out.AssignedIpv6Prefixes[0])
	assert.Equal(t, 80, p80.Bits())
	assert.True(t, l.sub64.Contains(p80.Addr()), "%s in %s", p80, l.sub64)

	d, err := l.ec2.DescribeNetworkInterfaces(l.ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eni.ID}})
	require.NoError(t, err)
	require.Len(t, d.NetworkInterfaces[0].Ipv6Prefixes, 1)
	assert.Equal(t, p80.String(), aws.ToString(d.NetworkInterfaces[0].Ipv6Prefixes[0].Ipv6Prefix))

	hs := httptest.NewServer(l.srv.IMDS(l.inst.ID))
	defer hs.Close()
	_, tok := imdsToken(t, hs.URL, "60")
	per := "/latest/meta-data/network/interfaces/macs/" + eni.MAC + "/"
	for key, want := range map[string]string{
		"ipv6-prefix":             p80.String(),
		"subnet-ipv6-cidr-blocks": l.sub64.String(),
		"vpc-ipv6-cidr-blocks":    l.vpc56.String(),
	} {
		st, body := imdsGet(t, hs.URL, tok, per+key)
		assert.Equal(t, 200, st, key)
		assert.Equal(t, want, body, key)
	}
	st, _ := imdsGet(t, hs.URL, tok, per+"ipv6s")
	assert.Equal(t, 404, st, "no IPv6 address yet: 404 as on EC2")

	// The second /80 is another one, and the ENI and its instance are found
	// by the IPv6 filters.
	out2, err := l.ec2.AssignIpv6Addresses(l.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: aws.String(eni.ID), Ipv6PrefixCount: aws.Int32(1)})
	require.NoError(t, err)
	assert.NotEqual(t, out.AssignedIpv6Prefixes[0], out2.AssignedIpv6Prefixes[0])
	di, err := l.ec2.DescribeInstances(l.ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("network-interface.ipv6-prefixes.ipv6-prefix"), Values: []string{p80.String()}}}})
	require.NoError(t, err)
	require.Len(t, di.Reservations, 1)
	assert.Equal(t, l.inst.ID, aws.ToString(di.Reservations[0].Instances[0].InstanceId))
}

// Addresses: picked from the subnet's /64, shown in Describe and IMDS
// (imds.GetIPv6s: macs/<mac>/ipv6s), found by filter, given back by
// UnassignIpv6Addresses and when the ENI is deleted.
func TestIPv6AddressesAssignDescribeUnassign(t *testing.T) {
	l := newV6Lab(t, "m5.large")
	eni := l.newENI(t, l.sub.ID)
	out, err := l.ec2.AssignIpv6Addresses(l.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: eni.NetworkInterfaceId, Ipv6AddressCount: aws.Int32(3)})
	require.NoError(t, err)
	require.Len(t, out.AssignedIpv6Addresses, 3)
	for _, s := range out.AssignedIpv6Addresses {
		assert.True(t, l.sub64.Contains(netip.MustParseAddr(s)), s)
	}
	d, err := l.ec2.DescribeNetworkInterfaces(l.ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
		{Name: aws.String("ipv6-addresses.ipv6-address"), Values: []string{out.AssignedIpv6Addresses[1]}}}})
	require.NoError(t, err)
	require.Len(t, d.NetworkInterfaces, 1)
	assert.Equal(t, aws.ToString(eni.NetworkInterfaceId), aws.ToString(d.NetworkInterfaces[0].NetworkInterfaceId))
	assert.Len(t, d.NetworkInterfaces[0].Ipv6Addresses, 3)

	un, err := l.ec2.UnassignIpv6Addresses(l.ctx, &ec2.UnassignIpv6AddressesInput{NetworkInterfaceId: eni.NetworkInterfaceId, Ipv6Addresses: out.AssignedIpv6Addresses[:1]})
	require.NoError(t, err)
	assert.Equal(t, out.AssignedIpv6Addresses[:1], un.UnassignedIpv6Addresses)
	_, err = l.ec2.UnassignIpv6Addresses(l.ctx, &ec2.UnassignIpv6AddressesInput{NetworkInterfaceId: eni.NetworkInterfaceId, Ipv6Addresses: out.AssignedIpv6Addresses[:1]})
	assert.Equal(t, "InvalidParameterValue", code(t, err), "unassigned twice")

	// A freed address can be chosen explicitly; one still held cannot.
	_, err = l.ec2.AssignIpv6Addresses(l.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: eni.NetworkInterfaceId, Ipv6Addresses: out.AssignedIpv6Addresses[:1]})
	require.NoError(t, err)
	other := l.newENI(t, l.sub.ID)
	_, err = l.ec2.AssignIpv6Addresses(l.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: other.NetworkInterfaceId, Ipv6Addresses: out.AssignedIpv6Addresses[2:]})
	assert.Equal(t, "InvalidIPAddress.InUse", code(t, err))
	_, err = l.ec2.DeleteNetworkInterface(l.ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: eni.NetworkInterfaceId})
	require.NoError(t, err)
	_, err = l.ec2.AssignIpv6Addresses(l.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: other.NetworkInterfaceId, Ipv6Addresses: out.AssignedIpv6Addresses[2:]})
	assert.NoError(t, err, "the deleted ENI's addresses went back to the subnet")
}

// The VPC and subnet show their IPv6 blocks in Describe, and their
// filters find them.
func TestIPv6BlocksInDescribeVpcsAndSubnets(t *testing.T) {
	l := newV6Lab(t, "m5.large")
	v, err := l.ec2.DescribeVpcs(l.ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{
		{Name: aws.String("ipv6-cidr-block-association.ipv6-cidr-block"), Values: []string{l.vpc56.String()}}}})
	require.NoError(t, err)
	require.Len(t, v.Vpcs, 1)
	require.Len(t, v.Vpcs[0].Ipv6CidrBlockAssociationSet, 1)
	assoc := v.Vpcs[0].Ipv6CidrBlockAssociationSet[0]
	assert.Equal(t, types.VpcCidrBlockStateCodeAssociated, assoc.Ipv6CidrBlockState.State)
	assert.Equal(t, "us-west-2", aws.ToString(assoc.NetworkBorderGroup))

	s, err := l.ec2.DescribeSubnets(l.ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{
		{Name: aws.String("ipv6-cidr-block-association.ipv6-cidr-block"), Values: []string{l.sub64.String()}}}})
	require.NoError(t, err)
	require.Len(t, s.Subnets, 1)
	assert.Equal(t, l.sub.ID, aws.ToString(s.Subnets[0].SubnetId))
	require.Len(t, s.Subnets[0].Ipv6CidrBlockAssociationSet, 1)
	assert.Equal(t, types.SubnetCidrBlockStateCodeAssociated, s.Subnets[0].Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlockState.State)

	// CreateSubnet takes its /64 at once; the Go API shows the blocks.
	b := l.vpc56.Addr().As16()
	b[7] = 2
	second := netip.PrefixFrom(netip.AddrFrom16(b), 64)
	cs, err := l.ec2.CreateSubnet(l.ctx, &ec2.CreateSubnetInput{VpcId: aws.String(l.vpc.ID), CidrBlock: aws.String("10.0.1.0/24"),
		AvailabilityZone: aws.String("us-west-2a"), Ipv6CidrBlock: aws.String(second.String())})
	require.NoError(t, err)
	sn, ok := l.srv.Subnet(aws.ToString(cs.Subnet.SubnetId))
	require.True(t, ok)
	assert.Equal(t, second, sn.IPv6CIDR)
	vv, ok := l.srv.VPC(l.vpc.ID)
	require.True(t, ok)
	assert.Equal(t, []netip.Prefix{l.vpc56}, vv.IPv6CIDRs)
}

// EC2's refusals, each naming what is wrong.
func TestIPv6Errors(t *testing.T) {
	l := newV6Lab(t, "m5.large")
	other := netip.MustParsePrefix("2001:db8:1:2::/64")
	b := l.vpc56.Addr().As16()
	b[7] = 9
	free64 := netip.PrefixFrom(netip.AddrFrom16(b), 64)
	for name, c := range map[string]struct {
		call func() error
		code string
	}{
		"subnet already has a /64": {func() error {
			_, err := l.ec2.AssociateSubnetCidrBlock(l.ctx, &ec2.AssociateSubnetCidrBlockInput{SubnetId: aws.String(l.sub.ID), Ipv6CidrBlock: aws.String(free64.String())})
			return err
		}, "InvalidParameterValue"},
		"block outside the VPC": {func() error {
			_, err := l.ec2.CreateSubnet(l.ctx, &ec2.CreateSubnetInput{VpcId: aws.String(l.vpc.ID), CidrBlock: aws.String("10.0.2.0/24"), AvailabilityZone: aws.String("us-west-2a"), Ipv6CidrBlock: aws.String(other.String())})
			return err
		}, "InvalidSubnet.Range"},
		"not a /64": {func() error {
			_, err := l.ec2.CreateSubnet(l.ctx, &ec2.CreateSubnetInput{VpcId: aws.String(l.vpc.ID), CidrBlock: aws.String("10.0.2.0/24"), AvailabilityZone: aws.String("us-west-2a"), Ipv6CidrBlock: aws.String(l.vpc56.String())})
			return err
		}, "InvalidSubnet.Range"},
		"another subnet's /64": {func() error {
			_, err := l.ec2.CreateSubnet(l.ctx, &ec2.CreateSubnetInput{VpcId: aws.String(l.vpc.ID), CidrBlock: aws.String("10.0.2.0/24"), AvailabilityZone: aws.String("us-west-2a"), Ipv6CidrBlock: aws.String(l.sub64.String())})
			return err
		}, "InvalidSubnet.Conflict"},
		"count and addresses": {func() error {
			_, err := l.ec2.AssignIpv6Addresses(l.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID), Ipv6AddressCount: aws.Int32(1), Ipv6PrefixCount: aws.Int32(1)})
			return err
		}, "InvalidParameterCombination"},
		"nothing asked": {func() error {
			_, err := l.ec2.AssignIpv6Addresses(l.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID)})
			return err
		}, "MissingParameter"},
		// m5.large: 10 addresses per ENI, IPv6 as IPv4 (DescribeInstanceTypes' Ipv6AddressesPerInterface).
		"past the per-ENI limit": {func() error {
			_, err := l.ec2.AssignIpv6Addresses(l.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID), Ipv6AddressCount: aws.Int32(11)})
			return err
		}, "PrivateIpAddressLimitExceeded"},
		"a /64 asked as a prefix": {func() error {
			_, err := l.ec2.AssignIpv6Addresses(l.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID), Ipv6Prefixes: []string{l.sub64.String()}})
			return err
		}, "InvalidParameterValue"},
		"an IPv4 address": {func() error {
			_, err := l.ec2.AssignIpv6Addresses(l.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID), Ipv6Addresses: []string{"10.0.0.9"}})
			return err
		}, "InvalidParameterValue"},
	} {
		t.Run(name, func(t *testing.T) { assert.Equal(t, c.code, code(t, c.call())) })
	}

	// A subnet without a /64 has no IPv6 addresses to give.
	plain := newLab(t, "m5.large")
	_, err := plain.ec2.AssignIpv6Addresses(plain.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: aws.String(plain.inst.ENIs[0].ID), Ipv6AddressCount: aws.Int32(1)})
	assert.Equal(t, "InvalidParameterValue", code(t, err))
	assert.Contains(t, message(t, err), "has no IPv6 CIDR block")

	// Prefix delegation is Nitro only (a c4 is Xen).
	xen := newV6Lab(t, "c4.large")
	_, err = xen.ec2.AssignIpv6Addresses(xen.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: aws.String(xen.inst.ENIs[0].ID), Ipv6PrefixCount: aws.Int32(1)})
	assert.Equal(t, "InvalidParameterValue", code(t, err))
}
