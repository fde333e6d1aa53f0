package fakeec2_test

import (
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An internet gateway, a route table sending a subnet to it and the main
// table every VPC gets with its local route, through the SDK.
func TestRouteTablesAndInternetGateway(t *testing.T) {
	l := newLab(t, "m5.large")
	main, err := l.ec2.DescribeRouteTables(l.ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{l.vpc.ID}}, {Name: aws.String("association.main"), Values: []string{"true"}}}})
	require.NoError(t, err)
	require.Len(t, main.RouteTables, 1, "every VPC has a main route table")
	require.Len(t, main.RouteTables[0].Routes, 1)
	assert.Equal(t, "10.0.0.0/16", aws.ToString(main.RouteTables[0].Routes[0].DestinationCidrBlock))
	assert.Equal(t, "local", aws.ToString(main.RouteTables[0].Routes[0].GatewayId))

	igw, err := l.ec2.CreateInternetGateway(l.ctx, &ec2.CreateInternetGatewayInput{})
	require.NoError(t, err)
	igwID := igw.InternetGateway.InternetGatewayId
	_, err = l.ec2.AttachInternetGateway(l.ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: igwID, VpcId: aws.String(l.vpc.ID)})
	require.NoError(t, err)
	_, err = l.ec2.AttachInternetGateway(l.ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: igwID, VpcId: aws.String(l.vpc.ID)})
	assert.Equal(t, "Resource.AlreadyAssociated", code(t, err))

	rt, err := l.ec2.CreateRouteTable(l.ctx, &ec2.CreateRouteTableInput{VpcId: aws.String(l.vpc.ID)})
	require.NoError(t, err)
	rtID := rt.RouteTable.RouteTableId
	_, err = l.ec2.CreateRoute(l.ctx, &ec2.CreateRouteInput{RouteTableId: rtID, DestinationCidrBlock: aws.String("0.0.0.0/0"), GatewayId: igwID})
	require.NoError(t, err)
	_, err = l.ec2.CreateRoute(l.ctx, &ec2.CreateRouteInput{RouteTableId: rtID, DestinationCidrBlock: aws.String("0.0.0.0/0"), GatewayId: igwID})
	assert.Equal(t, "RouteAlreadyExists", code(t, err))
	_, err = l.ec2.CreateRoute(l.ctx, &ec2.CreateRouteInput{RouteTableId: rtID, DestinationCidrBlock: aws.String("192.0.2.0/24"), GatewayId: aws.String("igw-0123456789abcdef0")})
	assert.Equal(t, "InvalidGatewayID.NotFound", code(t, err))
	_, err = l.ec2.AssociateRouteTable(l.ctx, &ec2.AssociateRouteTableInput{RouteTableId: rtID, SubnetId: aws.String(l.sub.ID)})
	require.NoError(t, err)
	_, err = l.ec2.AssociateRouteTable(l.ctx, &ec2.AssociateRouteTableInput{RouteTableId: rtID, SubnetId: aws.String(l.sub.ID)})
	assert.Equal(t, "Resource.AlreadyAssociated", code(t, err))

	out, err := l.ec2.DescribeRouteTables(l.ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
		{Name: aws.String("association.subnet-id"), Values: []string{l.sub.ID}}, {Name: aws.String("route.gateway-id"), Values: []string{"igw-*"}}}})
	require.NoError(t, err)
	require.Len(t, out.RouteTables, 1)
	assert.Equal(t, aws.ToString(rtID), aws.ToString(out.RouteTables[0].RouteTableId))
	_, err = l.ec2.CreateTags(l.ctx, &ec2.CreateTagsInput{Resources: []string{aws.ToString(rtID)}, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("public")}}})
	require.NoError(t, err)
	out, err = l.ec2.DescribeRouteTables(l.ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{{Name: aws.String("tag:Name"), Values: []string{"public"}}}})
	require.NoError(t, err)
	require.Len(t, out.RouteTables, 1)
	_, err = l.ec2.CreateRoute(l.ctx, &ec2.CreateRouteInput{RouteTableId: rtID, DestinationCidrBlock: aws.String("192.0.2.0/24")})
	assert.Equal(t, "MissingParameter", code(t, err))
	routes, err := l.srv.SubnetRoutes(l.sub.ID)
	require.NoError(t, err)
	require.Len(t, routes, 2)
	assert.Equal(t, aws.ToString(igwID), routes[1].Target)

	igws, err := l.ec2.DescribeInternetGateways(l.ctx, &ec2.DescribeInternetGatewaysInput{Filters: []ec2types.Filter{{Name: aws.String("attachment.vpc-id"), Values: []string{l.vpc.ID}}}})
	require.NoError(t, err)
	require.Len(t, igws.InternetGateways, 1)
	assert.Equal(t, "available", string(igws.InternetGateways[0].Attachments[0].State))
	_, err = l.ec2.DeleteVpc(l.ctx, &ec2.DeleteVpcInput{VpcId: aws.String(l.vpc.ID)})
	assert.Equal(t, "DependencyViolation", code(t, err))
}

// A NAT gateway takes an address of its subnet on a requester-managed ENI
// and holds its Elastic IP; the quota and the in-use rules are EC2's.
func TestNATGatewayAndElasticIPs(t *testing.T) {
	l := newLab(t, "m5.large")
	alloc, err := l.ec2.AllocateAddress(l.ctx, &ec2.AllocateAddressInput{Domain: ec2types.DomainTypeVpc})
	require.NoError(t, err)
	nat, err := l.ec2.CreateNatGateway(l.ctx, &ec2.CreateNatGatewayInput{SubnetId: aws.String(l.sub.ID), AllocationId: alloc.AllocationId})
	require.NoError(t, err)
	g := nat.NatGateway
	assert.Equal(t, ec2types.NatGatewayStateAvailable, g.State)
	require.Len(t, g.NatGatewayAddresses, 1)
	assert.Equal(t, aws.ToString(alloc.PublicIp), aws.ToString(g.NatGatewayAddresses[0].PublicIp))
	_, err = l.ec2.CreateNatGateway(l.ctx, &ec2.CreateNatGatewayInput{SubnetId: aws.String(l.sub.ID), AllocationId: alloc.AllocationId})
	assert.Equal(t, "Resource.AlreadyAssociated", code(t, err))

	enis, err := l.ec2.DescribeNetworkInterfaces(l.ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{aws.ToString(g.NatGatewayAddresses[0].NetworkInterfaceId)}})
	require.NoError(t, err)
	n := enis.NetworkInterfaces[0]
	assert.True(t, aws.ToBool(n.RequesterManaged))
	assert.Equal(t, ec2types.NetworkInterfaceStatusInUse, n.Status)
	_, err = l.ec2.DeleteNetworkInterface(l.ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: n.NetworkInterfaceId})
	assert.Equal(t, "InvalidNetworkInterface.InUse", code(t, err), "a NAT gateway's ENI goes with the NAT gateway")
	// EC2 answers nat_gateway, not the SDK enum's natGateway.
	assert.Equal(t, "nat_gateway", string(n.InterfaceType))
	assert.Equal(t, aws.ToString(alloc.PublicIp), aws.ToString(n.Association.PublicIp))
	assert.Equal(t, aws.ToString(g.NatGatewayAddresses[0].PrivateIp), aws.ToString(n.PrivateIpAddress))

	addrs, err := l.ec2.DescribeAddresses(l.ctx, &ec2.DescribeAddressesInput{Filters: []ec2types.Filter{{Name: aws.String("network-interface-id"), Values: []string{aws.ToString(n.NetworkInterfaceId)}}}})
	require.NoError(t, err)
	require.Len(t, addrs.Addresses, 1)
	_, err = l.ec2.ReleaseAddress(l.ctx, &ec2.ReleaseAddressInput{AllocationId: alloc.AllocationId})
	assert.Equal(t, "InvalidIPAddress.InUse", code(t, err))

	gs, err := l.ec2.DescribeNatGateways(l.ctx, &ec2.DescribeNatGatewaysInput{Filter: []ec2types.Filter{{Name: aws.String("subnet-id"), Values: []string{l.sub.ID}}}})
	require.NoError(t, err)
	assert.Len(t, gs.NatGateways, 1)
	_, err = l.ec2.DescribeNatGateways(l.ctx, &ec2.DescribeNatGatewaysInput{NatGatewayIds: []string{"nat-0123456789abcdef0"}})
	assert.Equal(t, "NatGatewayNotFound", code(t, err))

	for range 4 {
		_, err = l.ec2.AllocateAddress(l.ctx, &ec2.AllocateAddressInput{})
		require.NoError(t, err)
	}
	_, err = l.ec2.AllocateAddress(l.ctx, &ec2.AllocateAddressInput{})
	assert.Equal(t, "AddressLimitExceeded", code(t, err), "EC2's default quota is 5 per region")

	cases := []struct{ action, param, id, code string }{
		{"DescribeRouteTables", "RouteTableId.1", "rtb-zz", "InvalidRouteTableId.Malformed"},
		{"DescribeRouteTables", "RouteTableId.1", "rtb-12345678", "InvalidRouteTableID.NotFound"},
		{"DescribeInternetGateways", "InternetGatewayId.1", "igw-12345678", "InvalidInternetGatewayID.NotFound"},
		{"DescribeAddresses", "AllocationId.1", "eipalloc-12345678", "InvalidAllocationID.NotFound"},
		{"CreateNatGateway", "AllocationId", "eipalloc-12345678", "MissingParameter"},
	}
	for _, c := range cases {
		status, body := query(t, l.env, c.action, url.Values{c.param: {c.id}})
		assert.Equal(t, 400, status, "%s %s", c.action, c.id)
		assert.Contains(t, body, "<Code>"+c.code+"</Code>", "%s %s", c.action, c.id)
	}
}

// An instance launched in a subnet with MapPublicIpOnLaunch gets a public
// address on its primary ENI: in DescribeInstances, DescribeNetworkInterfaces
// and IMDS public-ipv4; terminating it returns the address.
func TestMapPublicIpOnLaunch(t *testing.T) {
	l := newLab(t, "m5.large")
	_, err := l.ec2.ModifySubnetAttribute(l.ctx, &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(l.sub.ID),
		MapPublicIpOnLaunch: &ec2types.AttributeBooleanValue{Value: aws.Bool(true)}})
	require.NoError(t, err)
	subs, err := l.ec2.DescribeSubnets(l.ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("map-public-ip-on-launch"), Values: []string{"true"}}}})
	require.NoError(t, err)
	require.Len(t, subs.Subnets, 1)

	run, err := l.ec2.RunInstances(l.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), InstanceType: ec2types.InstanceTypeM5Large,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(l.sub.ID)})
	require.NoError(t, err)
	id := aws.ToString(run.Instances[0].InstanceId)
	in, ok := l.srv.Instance(id)
	require.True(t, ok)
	require.True(t, in.PublicIP.IsValid())
	assert.True(t, in.PublicIP.Is4())

	desc, err := l.ec2.DescribeInstances(l.ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("ip-address"), Values: []string{in.PublicIP.String()}}}})
	require.NoError(t, err)
	require.Len(t, desc.Reservations, 1)
	got := desc.Reservations[0].Instances[0]
	assert.Equal(t, in.PublicIP.String(), aws.ToString(got.PublicIpAddress))
	assert.Equal(t, "amazon", aws.ToString(got.NetworkInterfaces[0].Association.IpOwnerId))
	assert.Nil(t, l.ec2Instance(t, l.inst.ID).PublicIpAddress, "launched before the attribute: no public address")

	hs := httptest.NewServer(l.srv.IMDS(id))
	defer hs.Close()
	_, tok := imdsToken(t, hs.URL, "60")
	status, body := imdsGet(t, hs.URL, tok, "/latest/meta-data/public-ipv4")
	assert.Equal(t, 200, status)
	assert.Equal(t, in.PublicIP.String(), body)
	hs2 := httptest.NewServer(l.srv.IMDS(l.inst.ID))
	defer hs2.Close()
	_, tok = imdsToken(t, hs2.URL, "60")
	status, _ = imdsGet(t, hs2.URL, tok, "/latest/meta-data/public-ipv4")
	assert.Equal(t, 404, status, "no public address: 404, as on EC2")

	require.NoError(t, l.srv.TerminateInstance(id))
	_, mapped := l.srv.PublicMappings()[in.PrimaryIP]
	assert.False(t, mapped, "the address went back to the pool")
}

func (l *lab) ec2Instance(t *testing.T, id string) ec2types.Instance {
	t.Helper()
	out, err := l.ec2.DescribeInstances(l.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	return out.Reservations[0].Instances[0]
}
