package fakeec2_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
)

func TestSetupThroughTheWire(t *testing.T) {
	e := newEnv(t, fakeec2.Config{Seed: 7})
	ctx := e.ctx
	vpc, err := e.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.1.0.0/16"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpc, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("lab")}}}}})
	require.NoError(t, err)
	vpcID := aws.ToString(vpc.Vpc.VpcId)
	assert.Regexp(t, `^vpc-[0-9a-f]{17}$`, vpcID)
	assert.Equal(t, "10.1.0.0/16", aws.ToString(vpc.Vpc.CidrBlock))

	assoc, err := e.ec2.AssociateVpcCidrBlock(ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: aws.String(vpcID), CidrBlock: aws.String("100.64.0.0/16")})
	require.NoError(t, err)
	assert.Equal(t, "100.64.0.0/16", aws.ToString(assoc.CidrBlockAssociation.CidrBlock))
	_, err = e.ec2.AssociateVpcCidrBlock(ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: aws.String(vpcID), CidrBlock: aws.String("10.1.128.0/17")})
	assert.Equal(t, "InvalidVpc.Range", code(t, err), "overlapping block")

	vpcs, err := e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"lab"}}}})
	require.NoError(t, err)
	require.Len(t, vpcs.Vpcs, 1)
	assert.Len(t, vpcs.Vpcs[0].CidrBlockAssociationSet, 2)

	sub, err := e.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpcID), CidrBlock: aws.String("100.64.0.0/24"), AvailabilityZone: aws.String("us-west-2b")})
	require.NoError(t, err, "a subnet in the secondary CIDR")
	subID := aws.ToString(sub.Subnet.SubnetId)
	assert.EqualValues(t, 251, aws.ToInt32(sub.Subnet.AvailableIpAddressCount), "256 - 5 reserved")
	assert.Equal(t, "us-west-2b", aws.ToString(sub.Subnet.AvailabilityZone))
	_, err = e.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpcID), CidrBlock: aws.String("100.64.0.128/25")})
	assert.Equal(t, "InvalidSubnet.Conflict", code(t, err))
	_, err = e.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpcID), CidrBlock: aws.String("192.168.0.0/24")})
	assert.Equal(t, "InvalidSubnet.Range", code(t, err))
	_, err = e.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String("vpc-0000000000000000f"), CidrBlock: aws.String("10.1.0.0/24")})
	assert.Equal(t, "InvalidVpcID.NotFound", code(t, err))

	sg, err := e.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("nodes"), Description: aws.String("nodes"), VpcId: aws.String(vpcID)})
	require.NoError(t, err)
	sgs, err := e.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}})
	require.NoError(t, err)
	assert.Len(t, sgs.SecurityGroups, 2, "default + nodes")
	_, err = e.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("nodes"), Description: aws.String("again"), VpcId: aws.String(vpcID)})
	assert.Equal(t, "InvalidGroup.Duplicate", code(t, err))

	run, err := e.ec2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: types.InstanceTypeC5Large,
		MinCount: aws.Int32(2), MaxCount: aws.Int32(2), SubnetId: aws.String(subID), SecurityGroupIds: []string{aws.ToString(sg.GroupId)}})
	require.NoError(t, err)
	require.Len(t, run.Instances, 2)
	in := run.Instances[0]
	assert.Equal(t, types.InstanceStateNamePending, in.State.Name, "RunInstances answers pending, as EC2 does")
	require.Len(t, in.NetworkInterfaces, 1)
	assert.EqualValues(t, 0, aws.ToInt32(in.NetworkInterfaces[0].Attachment.DeviceIndex))
	assert.True(t, aws.ToBool(in.NetworkInterfaces[0].Attachment.DeleteOnTermination))
	assert.Equal(t, aws.ToString(in.PrivateIpAddress), aws.ToString(in.NetworkInterfaces[0].PrivateIpAddress))
	assert.Equal(t, aws.ToString(sg.GroupId), aws.ToString(in.SecurityGroups[0].GroupId))

	di, err := e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{aws.ToString(in.InstanceId)}})
	require.NoError(t, err)
	require.Len(t, di.Reservations, 1)
	require.Len(t, di.Reservations[0].Instances, 1)
	assert.Equal(t, types.InstanceTypeC5Large, di.Reservations[0].Instances[0].InstanceType)
	assert.Equal(t, "us-west-2b", aws.ToString(di.Reservations[0].Instances[0].Placement.AvailabilityZone))

	// Terminating deletes the primary ENI and frees its address.
	eniID := aws.ToString(in.NetworkInterfaces[0].NetworkInterfaceId)
	term, err := e.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(in.InstanceId)}})
	require.NoError(t, err)
	assert.Equal(t, types.InstanceStateNameShuttingDown, term.TerminatingInstances[0].CurrentState.Name)
	_, err = e.ec2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eniID}})
	assert.Equal(t, "InvalidNetworkInterfaceID.NotFound", code(t, err))
	s, _ := e.srv.Subnet(subID)
	assert.Equal(t, 250, s.Free, "one instance left")
	di, err = e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}}}})
	require.NoError(t, err)
	require.Len(t, di.Reservations, 1)
	assert.Len(t, di.Reservations[0].Instances, 1)
}

func TestENILifecycle(t *testing.T) {
	l := newLab(t, "m5.large")
	ctx := l.ctx
	out, err := l.ec2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{
		SubnetId: aws.String(l.sub.ID), Description: aws.String("aws-K8S-i-1"), SecondaryPrivateIpAddressCount: aws.Int32(2),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeNetworkInterface, Tags: []types.Tag{{Key: aws.String("node.k8s.amazonaws.com/instance_id"), Value: aws.String(l.inst.ID)}}}},
	})
	require.NoError(t, err)
	n := out.NetworkInterface
	id := aws.ToString(n.NetworkInterfaceId)
	assert.Regexp(t, `^eni-[0-9a-f]{17}$`, id)
	assert.Regexp(t, `^02:([0-9a-f]{2}:){4}[0-9a-f]{2}$`, aws.ToString(n.MacAddress))
	assert.Equal(t, types.NetworkInterfaceStatusAvailable, n.Status)
	require.Len(t, n.PrivateIpAddresses, 3)
	assert.True(t, aws.ToBool(n.PrivateIpAddresses[0].Primary))
	assert.Equal(t, "aws-K8S-i-1", aws.ToString(n.Description))
	assert.Equal(t, l.inst.ID, aws.ToString(n.TagSet[0].Value))

	attID, err := l.attach(t, id, 1)
	require.NoError(t, err)
	assert.Regexp(t, `^eni-attach-[0-9a-f]{17}$`, attID)
	got, _ := l.srv.ENI(id)
	assert.Equal(t, "in-use", got.Status)
	assert.Equal(t, l.inst.ID, got.InstanceID)

	_, err = l.ec2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(id),
		Attachment: &types.NetworkInterfaceAttachmentChanges{AttachmentId: aws.String(attID), DeleteOnTermination: aws.Bool(true)}})
	require.NoError(t, err)
	got, _ = l.srv.ENI(id)
	assert.True(t, got.DeleteOnTermination)
	_, err = l.ec2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(id),
		Attachment: &types.NetworkInterfaceAttachmentChanges{AttachmentId: aws.String("eni-attach-00000000000000000"), DeleteOnTermination: aws.Bool(true)}})
	assert.Equal(t, "InvalidAttachmentID.NotFound", code(t, err))
	_, err = l.ec2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(id),
		Description: &types.AttributeValue{Value: aws.String("renamed")}})
	require.NoError(t, err)

	as, err := l.ec2.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(id), SecondaryPrivateIpAddressCount: aws.Int32(3)})
	require.NoError(t, err)
	require.Len(t, as.AssignedPrivateIpAddresses, 3)
	assert.Equal(t, id, aws.ToString(as.NetworkInterfaceId))
	got, _ = l.srv.ENI(id)
	assert.Len(t, got.SecondaryIPs, 5)

	victim := aws.ToString(as.AssignedPrivateIpAddresses[0].PrivateIpAddress)
	_, err = l.ec2.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(id), PrivateIpAddresses: []string{victim}})
	require.NoError(t, err)
	got, _ = l.srv.ENI(id)
	assert.Len(t, got.SecondaryIPs, 4)
	assert.NotContains(t, got.SecondaryIPs, netip.MustParseAddr(victim))
	_, err = l.ec2.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(id), PrivateIpAddresses: []string{victim}})
	assert.Equal(t, "InvalidParameterValue", code(t, err), "already gone")
	_, err = l.ec2.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(id), PrivateIpAddresses: []string{got.PrimaryIP.String()}})
	assert.Equal(t, "InvalidParameterValue", code(t, err), "primary cannot go")

	// Explicit addresses, and AllowReassignment moving one between ENIs.
	other := l.newENI(t, l.sub.ID)
	_, err = l.ec2.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: other.NetworkInterfaceId, PrivateIpAddresses: []string{got.SecondaryIPs[0].String()}})
	assert.Equal(t, "InvalidIPAddress.InUse", code(t, err))
	_, err = l.ec2.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: other.NetworkInterfaceId, PrivateIpAddresses: []string{got.SecondaryIPs[0].String()}, AllowReassignment: aws.Bool(true)})
	require.NoError(t, err)
	moved, _ := l.srv.ENI(aws.ToString(other.NetworkInterfaceId))
	assert.Equal(t, []netip.Addr{got.SecondaryIPs[0]}, moved.SecondaryIPs)
	_, err = l.ec2.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: other.NetworkInterfaceId, PrivateIpAddresses: []string{"10.9.9.9"}})
	assert.Equal(t, "InvalidParameterValue", code(t, err), "outside the subnet")
	_, err = l.ec2.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: other.NetworkInterfaceId, PrivateIpAddresses: []string{"10.0.0.1"}})
	assert.Equal(t, "InvalidParameterValue", code(t, err), "the VPC router address")
	_, err = l.ec2.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: other.NetworkInterfaceId, PrivateIpAddresses: []string{"10.0.0.200"}, SecondaryPrivateIpAddressCount: aws.Int32(1)})
	assert.Equal(t, "InvalidParameterCombination", code(t, err))

	// Tags.
	_, err = l.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id, l.sub.ID}, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("net")}}})
	require.NoError(t, err)
	got, _ = l.srv.ENI(id)
	assert.Equal(t, "net", got.Tags["team"])
	s, _ := l.srv.Subnet(l.sub.ID)
	assert.Equal(t, "net", s.Tags["team"])
	_, err = l.ec2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("team")}}})
	require.NoError(t, err)
	got, _ = l.srv.ENI(id)
	assert.NotContains(t, got.Tags, "team")
	_, err = l.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"eni-0123456789abcdef0"}, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
	assert.Equal(t, "InvalidNetworkInterfaceID.NotFound", code(t, err))

	// Delete while attached is refused; detach then delete frees every address.
	_, err = l.ec2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(id)})
	assert.Equal(t, "InvalidNetworkInterface.InUse", code(t, err))
	before, _ := l.srv.Subnet(l.sub.ID)
	_, err = l.ec2.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(attID)})
	require.NoError(t, err)
	_, err = l.ec2.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(attID)})
	assert.Equal(t, "InvalidAttachmentID.NotFound", code(t, err))
	_, err = l.ec2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(id)})
	require.NoError(t, err)
	after, _ := l.srv.Subnet(l.sub.ID)
	assert.Equal(t, before.Free+4, after.Free, "primary + 3 secondaries returned (one moved away)")
	_, ok := l.srv.ENI(id)
	assert.False(t, ok)
}

func TestAttachmentLimitAtFourthENIOfM5Large(t *testing.T) {
	l := newLab(t, "m5.large") // 3 ENIs
	for dev := int32(1); dev <= 2; dev++ {
		_, err := l.attach(t, aws.ToString(l.newENI(t, l.sub.ID).NetworkInterfaceId), dev)
		require.NoError(t, err)
	}
	_, err := l.attach(t, aws.ToString(l.newENI(t, l.sub.ID).NetworkInterfaceId), 3)
	assert.Equal(t, "AttachmentLimitExceeded", code(t, err))
	in, _ := l.srv.Instance(l.inst.ID)
	assert.Len(t, in.ENIs, 3)
}

func TestDeviceIndexAndPlacementRules(t *testing.T) {
	l := newLab(t, "m5.large")
	a := aws.ToString(l.newENI(t, l.sub.ID).NetworkInterfaceId)
	_, err := l.attach(t, a, 0)
	assert.Equal(t, "InvalidParameterValue", code(t, err), "device 0 is the primary's")
	_, err = l.attach(t, a, 1)
	require.NoError(t, err)
	b := aws.ToString(l.newENI(t, l.sub.ID).NetworkInterfaceId)
	_, err = l.attach(t, b, 1)
	assert.Equal(t, "InvalidParameterValue", code(t, err), "device 1 taken")
	_, err = l.attach(t, a, 2)
	assert.Equal(t, "InvalidNetworkInterface.InUse", code(t, err), "already attached")
	_, err = l.ec2.AttachNetworkInterface(l.ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String(b),
		InstanceId: aws.String(l.inst.ID), DeviceIndex: aws.Int32(2), NetworkCardIndex: aws.Int32(1)})
	assert.Equal(t, "InvalidParameterValue", code(t, err), "m5.large has one network card")

	otherAZ, err := l.srv.CreateSubnet(fakeec2.SubnetSpec{ID: "subnet-b", VPCID: l.vpc.ID, CIDR: "10.0.1.0/24", AZ: "us-west-2b"})
	require.NoError(t, err)
	_, err = l.attach(t, aws.ToString(l.newENI(t, otherAZ.ID).NetworkInterfaceId), 2)
	assert.Equal(t, "InvalidParameterValue", code(t, err), "other AZ")
	assert.Contains(t, message(t, err), "availability zone")

	otherVPC, err := l.srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.1.0.0/16"})
	require.NoError(t, err)
	sameAZ, err := l.srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: otherVPC.ID, CIDR: "10.1.0.0/24", AZ: "us-west-2a"})
	require.NoError(t, err)
	_, err = l.attach(t, aws.ToString(l.newENI(t, sameAZ.ID).NetworkInterfaceId), 2)
	assert.Equal(t, "InvalidParameterValue", code(t, err), "other VPC, same AZ")
	assert.Contains(t, message(t, err), "VPC")

	// The primary ENI cannot be detached.
	_, err = l.ec2.DetachNetworkInterface(l.ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(l.inst.ENIs[0].AttachmentID)})
	assert.Equal(t, "OperationNotPermitted", code(t, err))
}

func TestPrivateIpAddressLimitAtEleventhAddress(t *testing.T) {
	l := newLab(t, "m5.large") // 10 IPv4 per ENI
	eni := l.inst.ENIs[0].ID
	_, err := l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eni), SecondaryPrivateIpAddressCount: aws.Int32(9)})
	require.NoError(t, err, "primary + 9 = 10")
	_, err = l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eni), SecondaryPrivateIpAddressCount: aws.Int32(1)})
	assert.Equal(t, "PrivateIpAddressLimitExceeded", code(t, err))
	got, _ := l.srv.ENI(eni)
	assert.Len(t, got.SecondaryIPs, 9)
}

func TestPrefixTakesOneAddressSlot(t *testing.T) {
	l := newLab(t, "m5.large")
	eni := l.inst.ENIs[0].ID
	_, err := l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eni), SecondaryPrivateIpAddressCount: aws.Int32(7)})
	require.NoError(t, err)
	out, err := l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eni), Ipv4PrefixCount: aws.Int32(2)})
	require.NoError(t, err, "1 + 7 + 2 prefixes = 10 slots")
	require.Len(t, out.AssignedIpv4Prefixes, 2)
	p := netip.MustParsePrefix(aws.ToString(out.AssignedIpv4Prefixes[0].Ipv4Prefix))
	assert.Equal(t, 28, p.Bits())
	assert.Equal(t, p.Masked(), p, "aligned")
	_, err = l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eni), Ipv4PrefixCount: aws.Int32(1)})
	assert.Equal(t, "PrivateIpAddressLimitExceeded", code(t, err), "11th slot")
	_, err = l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eni), SecondaryPrivateIpAddressCount: aws.Int32(1)})
	assert.Equal(t, "PrivateIpAddressLimitExceeded", code(t, err), "11th slot")

	_, err = l.ec2.UnassignPrivateIpAddresses(l.ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eni), Ipv4Prefixes: []string{p.String()}})
	require.NoError(t, err)
	got, _ := l.srv.ENI(eni)
	assert.Len(t, got.Prefixes, 1)
}

func TestPrefixesRefusedOnXen(t *testing.T) {
	l := newLab(t, "m3.2xlarge")
	_, err := l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID), Ipv4PrefixCount: aws.Int32(1)})
	assert.Equal(t, "InvalidParameterValue", code(t, err))
	// An ENI created with a prefix cannot join a xen instance either.
	out, err := l.ec2.CreateNetworkInterface(l.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(l.sub.ID), Ipv4PrefixCount: aws.Int32(1)})
	require.NoError(t, err)
	_, err = l.attach(t, aws.ToString(out.NetworkInterface.NetworkInterfaceId), 1)
	assert.Equal(t, "InvalidParameterValue", code(t, err))
}

func TestPrefixesOnNitroAndBareMetal(t *testing.T) {
	for _, typ := range []string{"m5.large", "c5.metal"} { // nitro; bare metal (no hypervisor)
		l := newLab(t, typ)
		out, err := l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID), Ipv4PrefixCount: aws.Int32(1)})
		require.NoError(t, err, typ)
		assert.Len(t, out.AssignedIpv4Prefixes, 1, typ)
	}
}

// A prefix is never carved out of an explicit reservation, even when no
// other aligned /28 is left; the caller may still name addresses and
// prefixes there.
func TestPrefixesNeverFromExplicitReservations(t *testing.T) {
	e := newEnv(t, fakeec2.Config{Seed: 4})
	v, err := e.srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
	require.NoError(t, err)
	// A /26 has four /28 blocks; the first holds the network, router and
	// DNS addresses, the last the broadcast one. Block 1 is reserved
	// explicitly and block 2 gets one address: no block is free for a
	// prefix, though most of the subnet is.
	sn, err := e.srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: v.ID, CIDR: "10.0.0.0/26"})
	require.NoError(t, err)
	require.NoError(t, e.srv.CreateSubnetCIDRReservation(sn.ID, "10.0.0.16/28", "explicit"))
	out, err := e.ec2.CreateNetworkInterface(e.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(sn.ID), PrivateIpAddress: aws.String("10.0.0.40")})
	require.NoError(t, err)
	eni := out.NetworkInterface.NetworkInterfaceId
	s, _ := e.srv.Subnet(sn.ID)
	require.Greater(t, s.Free, 10)
	_, err = e.ec2.AssignPrivateIpAddresses(e.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: eni, Ipv4PrefixCount: aws.Int32(1)})
	assert.Equal(t, "InsufficientCidrBlocks", code(t, err), "the explicit block is not drawn from")
	// The caller may assign from it, by naming an address or a prefix.
	_, err = e.ec2.AssignPrivateIpAddresses(e.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: eni, PrivateIpAddresses: []string{"10.0.0.20"}})
	require.NoError(t, err, "a named address")
	_, err = e.ec2.UnassignPrivateIpAddresses(e.ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: eni, PrivateIpAddresses: []string{"10.0.0.20"}})
	require.NoError(t, err)
	_, err = e.ec2.AssignPrivateIpAddresses(e.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: eni, Ipv4Prefixes: []string{"10.0.0.16/28"}})
	require.NoError(t, err, "a named prefix")
	_, err = e.ec2.UnassignPrivateIpAddresses(e.ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: eni, Ipv4Prefixes: []string{"10.0.0.16/28"}})
	require.NoError(t, err)
	after, _ := e.srv.Subnet(sn.ID)
	assert.Equal(t, s.Free, after.Free, "the reserved range never counted as free")

	// Once the reservation is deleted, its block is the one prefix left.
	res, err := e.ec2.GetSubnetCidrReservations(e.ctx, &ec2.GetSubnetCidrReservationsInput{SubnetId: aws.String(sn.ID)})
	require.NoError(t, err)
	require.Len(t, res.SubnetIpv4CidrReservations, 1)
	_, err = e.ec2.DeleteSubnetCidrReservation(e.ctx, &ec2.DeleteSubnetCidrReservationInput{SubnetCidrReservationId: res.SubnetIpv4CidrReservations[0].SubnetCidrReservationId})
	require.NoError(t, err)
	pfx, err := e.ec2.AssignPrivateIpAddresses(e.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: eni, Ipv4PrefixCount: aws.Int32(1)})
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.16/28", aws.ToString(pfx.AssignedIpv4Prefixes[0].Ipv4Prefix))
}

// An address and a prefix named in one request must not overlap: the
// address would be handed out twice.
func TestCreateNetworkInterfaceRefusesAnAddressInsideItsOwnPrefix(t *testing.T) {
	l := newLab(t, "m5.large")
	require.False(t, netip.MustParsePrefix("10.0.0.208/28").Contains(l.inst.PrimaryIP) || l.inst.PrimaryIP.String() == "10.0.0.225",
		"the seed put the instance's address where this test works")
	before, _ := l.srv.Subnet(l.sub.ID)
	_, err := l.ec2.CreateNetworkInterface(l.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(l.sub.ID),
		PrivateIpAddress: aws.String("10.0.0.209"), Ipv4Prefixes: []types.Ipv4PrefixSpecificationRequest{{Ipv4Prefix: aws.String("10.0.0.208/28")}}})
	assert.Equal(t, "InvalidIPAddress.InUse", code(t, err))
	after, _ := l.srv.Subnet(l.sub.ID)
	assert.Equal(t, before.Free, after.Free, "nothing taken")
	out, err := l.ec2.CreateNetworkInterface(l.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(l.sub.ID),
		PrivateIpAddress: aws.String("10.0.0.225"), Ipv4Prefixes: []types.Ipv4PrefixSpecificationRequest{{Ipv4Prefix: aws.String("10.0.0.208/28")}}})
	require.NoError(t, err, "disjoint address and prefix")
	assert.Equal(t, "10.0.0.225", aws.ToString(out.NetworkInterface.PrivateIpAddress))
	require.Len(t, out.NetworkInterface.Ipv4Prefixes, 1)
	assert.Equal(t, "10.0.0.208/28", aws.ToString(out.NetworkInterface.Ipv4Prefixes[0].Ipv4Prefix))
}

func TestSubnetExhaustionOfSlash28(t *testing.T) {
	e := newEnv(t, fakeec2.Config{Seed: 3})
	v, err := e.srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
	require.NoError(t, err)
	sn, err := e.srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: v.ID, CIDR: "10.0.0.0/28"})
	require.NoError(t, err)
	assert.Equal(t, 11, sn.Free, "16 - 5 reserved")
	in, err := e.srv.RunInstance(fakeec2.InstanceSpec{Type: "m5.large", SubnetID: sn.ID})
	require.NoError(t, err)
	_, err = e.ec2.AssignPrivateIpAddresses(e.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(in.ENIs[0].ID), SecondaryPrivateIpAddressCount: aws.Int32(9)})
	require.NoError(t, err)
	_, err = e.ec2.CreateNetworkInterface(e.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(sn.ID)})
	require.NoError(t, err, "the 11th usable address")
	subs, err := e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{sn.ID}})
	require.NoError(t, err)
	assert.EqualValues(t, 0, aws.ToInt32(subs.Subnets[0].AvailableIpAddressCount))
	_, err = e.ec2.CreateNetworkInterface(e.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(sn.ID)})
	assert.Equal(t, "InsufficientFreeAddressesInSubnet", code(t, err))
	_, err = e.srv.RunInstance(fakeec2.InstanceSpec{Type: "m5.large", SubnetID: sn.ID})
	var fe *fakeec2.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "InsufficientFreeAddressesInSubnet", fe.Code)

	// Every address handed out is usable: never the network, router, DNS, reserved or broadcast one.
	all := map[netip.Addr]bool{}
	for _, n := range e.srv.ENIs() {
		all[n.PrimaryIP] = true
		for _, a := range n.SecondaryIPs {
			all[a] = true
		}
	}
	assert.Len(t, all, 11)
	for a := range all {
		last := a.As4()[3]
		assert.True(t, last >= 4 && last <= 14, "%s is reserved", a)
	}
}

func TestInsufficientCidrBlocksWhenFragmented(t *testing.T) {
	l := newLab(t, "m5.large")
	// One address in every /28 of the /24: plenty free, no aligned block.
	for b := 0; b < 16; b++ {
		ip := fmt.Sprintf("10.0.0.%d", b*16+7)
		if _, err := l.ec2.CreateNetworkInterface(l.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(l.sub.ID), PrivateIpAddress: aws.String(ip)}); err != nil {
			require.Equal(t, "InvalidIPAddress.InUse", code(t, err), "only the instance's own address may clash")
		}
	}
	s, _ := l.srv.Subnet(l.sub.ID)
	require.Greater(t, s.Free, 200)
	_, err := l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID), Ipv4PrefixCount: aws.Int32(1)})
	assert.Equal(t, "InsufficientCidrBlocks", code(t, err))
	// Individual addresses still work.
	_, err = l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID), SecondaryPrivateIpAddressCount: aws.Int32(1)})
	require.NoError(t, err)
}

func TestCIDRReservations(t *testing.T) {
	l := newLab(t, "m5.large")
	before, _ := l.srv.Subnet(l.sub.ID)
	out, err := l.ec2.CreateSubnetCidrReservation(l.ctx, &ec2.CreateSubnetCidrReservationInput{SubnetId: aws.String(l.sub.ID), Cidr: aws.String("10.0.0.64/27"), ReservationType: types.SubnetCidrReservationTypePrefix})
	require.NoError(t, err)
	assert.Equal(t, types.SubnetCidrReservationTypePrefix, out.SubnetCidrReservation.ReservationType)
	require.NoError(t, l.srv.CreateSubnetCIDRReservation(l.sub.ID, "10.0.0.128/25", "explicit"))
	after, _ := l.srv.Subnet(l.sub.ID)
	// 32 + 128 addresses leave the free count, less the broadcast address
	// (reserved already) and the instance's primary if it lies in a range.
	wantFree := before.Free - 32 - 127
	if netip.MustParsePrefix("10.0.0.64/27").Contains(l.inst.PrimaryIP) || netip.MustParsePrefix("10.0.0.128/25").Contains(l.inst.PrimaryIP) {
		wantFree++
	}
	assert.Equal(t, wantFree, after.Free, "reserved ranges leave the free count")
	_, err = l.ec2.CreateSubnetCidrReservation(l.ctx, &ec2.CreateSubnetCidrReservationInput{SubnetId: aws.String(l.sub.ID), Cidr: aws.String("10.0.0.80/28"), ReservationType: types.SubnetCidrReservationTypeExplicit})
	assert.Equal(t, "InvalidParameterValue", code(t, err), "overlaps")

	eni := l.inst.ENIs[0].ID
	pfx, err := l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eni), Ipv4PrefixCount: aws.Int32(3)})
	require.NoError(t, err)
	prefixRes := netip.MustParsePrefix("10.0.0.64/27")
	explicitRes := netip.MustParsePrefix("10.0.0.128/25")
	var got []netip.Prefix
	for _, p := range pfx.AssignedIpv4Prefixes {
		got = append(got, netip.MustParsePrefix(aws.ToString(p.Ipv4Prefix)))
	}
	assert.True(t, prefixRes.Contains(got[0].Addr()) && prefixRes.Contains(got[1].Addr()), "first from the prefix reservation: %v", got)
	assert.False(t, prefixRes.Contains(got[2].Addr()) || explicitRes.Contains(got[2].Addr()), "then from unreserved space: %v", got)

	ips, err := l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eni), SecondaryPrivateIpAddressCount: aws.Int32(5)})
	require.NoError(t, err)
	for _, a := range ips.AssignedPrivateIpAddresses {
		ip := netip.MustParseAddr(aws.ToString(a.PrivateIpAddress))
		assert.False(t, explicitRes.Contains(ip) || prefixRes.Contains(ip), "%s chosen from a reservation", ip)
	}
	// An explicit reservation is for addresses the caller names.
	_, err = l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eni), PrivateIpAddresses: []string{"10.0.0.200"}})
	require.NoError(t, err)
}

func TestNotFoundQuotesTheID(t *testing.T) {
	l := newLab(t, "m5.large")
	cases := []struct {
		call func() error
		code string
		id   string
	}{
		{func() error {
			_, err := l.ec2.DescribeNetworkInterfaces(l.ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{"eni-0badbadbadbadbad0"}})
			return err
		}, "InvalidNetworkInterfaceID.NotFound", "eni-0badbadbadbadbad0"},
		{func() error {
			_, err := l.ec2.DeleteNetworkInterface(l.ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String("eni-00000000000000123")})
			return err
		}, "InvalidNetworkInterfaceID.NotFound", "eni-00000000000000123"},
		{func() error {
			_, err := l.ec2.DescribeInstances(l.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
			return err
		}, "InvalidInstanceID.NotFound", "i-0123456789abcdef0"},
		{func() error {
			_, err := l.ec2.AttachNetworkInterface(l.ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID), InstanceId: aws.String("i-00000000000000fff"), DeviceIndex: aws.Int32(1)})
			return err
		}, "InvalidInstanceID.NotFound", "i-00000000000000fff"},
		{func() error {
			_, err := l.ec2.CreateNetworkInterface(l.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String("subnet-00000000000000fff")})
			return err
		}, "InvalidSubnetID.NotFound", "subnet-00000000000000fff"},
		{func() error {
			_, err := l.ec2.DetachNetworkInterface(l.ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String("eni-attach-0000000000000000f")})
			return err
		}, "InvalidAttachmentID.NotFound", "eni-attach-0000000000000000f"},
		{func() error {
			_, err := l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String("eni-00000000000000009"), SecondaryPrivateIpAddressCount: aws.Int32(1)})
			return err
		}, "InvalidNetworkInterfaceID.NotFound", "eni-00000000000000009"},
	}
	for _, c := range cases {
		err := c.call()
		assert.Equal(t, c.code, code(t, err))
		assert.Contains(t, message(t, err), "'"+c.id+"'")
	}
	err := func() error {
		_, err := l.ec2.DescribeNetworkInterfaces(l.ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{"eni-00000000000000001"}})
		return err
	}()
	assert.Equal(t, "The networkInterface ID 'eni-00000000000000001' does not exist", message(t, err))
}

func TestDescribeNetworkInterfacesPagination(t *testing.T) {
	l := newLab(t, "m5.large")
	want := map[string]bool{l.inst.ENIs[0].ID: true}
	for range 24 {
		want[aws.ToString(l.newENI(t, l.sub.ID).NetworkInterfaceId)] = true
	}
	first, err := l.ec2.DescribeNetworkInterfaces(l.ctx, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(10)})
	require.NoError(t, err)
	assert.Len(t, first.NetworkInterfaces, 10)
	require.NotNil(t, first.NextToken)

	got := map[string]bool{}
	pages := 0
	p := ec2.NewDescribeNetworkInterfacesPaginator(l.ec2, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(10)})
	for p.HasMorePages() {
		page, err := p.NextPage(l.ctx)
		require.NoError(t, err)
		pages++
		for _, n := range page.NetworkInterfaces {
			assert.False(t, got[aws.ToString(n.NetworkInterfaceId)], "duplicate across pages")
			got[aws.ToString(n.NetworkInterfaceId)] = true
		}
	}
	assert.Equal(t, 3, pages)
	assert.Equal(t, want, got)

	_, err = l.ec2.DescribeNetworkInterfaces(l.ctx, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(10), NetworkInterfaceIds: []string{l.inst.ENIs[0].ID}})
	assert.Equal(t, "InvalidParameterCombination", code(t, err))
	_, err = l.ec2.DescribeNetworkInterfaces(l.ctx, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(2)})
	assert.Equal(t, "InvalidParameterValue", code(t, err), "MaxResults below 5")
	_, err = l.ec2.DescribeNetworkInterfaces(l.ctx, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(10), NextToken: aws.String("garbage")})
	assert.Equal(t, "InvalidNextToken", code(t, err))
}

func TestDescribeNetworkInterfacesFilters(t *testing.T) {
	l := newLab(t, "m5.large")
	tagged, err := l.ec2.CreateNetworkInterface(l.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(l.sub.ID), Description: aws.String("aws-K8S-i-abc"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeNetworkInterface, Tags: []types.Tag{{Key: aws.String("cluster.k8s.amazonaws.com/name"), Value: aws.String("lab")}}}}})
	require.NoError(t, err)
	taggedID := aws.ToString(tagged.NetworkInterface.NetworkInterfaceId)
	other, err := l.srv.CreateSubnet(fakeec2.SubnetSpec{ID: "subnet-b", VPCID: l.vpc.ID, CIDR: "10.0.1.0/24"})
	require.NoError(t, err)
	loose := aws.ToString(l.newENI(t, other.ID).NetworkInterfaceId)
	primary := l.inst.ENIs[0].ID

	ids := func(fs ...types.Filter) []string {
		out, err := l.ec2.DescribeNetworkInterfaces(l.ctx, &ec2.DescribeNetworkInterfacesInput{Filters: fs})
		require.NoError(t, err)
		var r []string
		for _, n := range out.NetworkInterfaces {
			r = append(r, aws.ToString(n.NetworkInterfaceId))
		}
		return r
	}
	f := func(name string, v ...string) types.Filter { return types.Filter{Name: aws.String(name), Values: v} }
	assert.ElementsMatch(t, []string{primary, taggedID, loose}, ids(f("vpc-id", l.vpc.ID)))
	assert.ElementsMatch(t, []string{loose}, ids(f("subnet-id", "subnet-b")))
	assert.ElementsMatch(t, []string{primary}, ids(f("status", "in-use")))
	assert.ElementsMatch(t, []string{taggedID, loose}, ids(f("status", "available")))
	assert.ElementsMatch(t, []string{primary}, ids(f("attachment.instance-id", l.inst.ID)))
	assert.ElementsMatch(t, []string{taggedID}, ids(f("tag-key", "cluster.k8s.amazonaws.com/name")))
	assert.ElementsMatch(t, []string{taggedID}, ids(f("tag:cluster.k8s.amazonaws.com/name", "lab")))
	assert.Empty(t, ids(f("tag:cluster.k8s.amazonaws.com/name", "other")))
	assert.ElementsMatch(t, []string{taggedID}, ids(f("description", "aws-K8S-*")))
	assert.ElementsMatch(t, []string{loose}, ids(f("network-interface-id", loose)))
	assert.ElementsMatch(t, []string{taggedID}, ids(f("status", "available"), f("subnet-id", l.sub.ID)), "filters AND")
	assert.ElementsMatch(t, []string{primary, loose}, ids(f("network-interface-id", primary, loose)), "values OR")
	_, err = l.ec2.DescribeNetworkInterfaces(l.ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{f("bogus", "x")}})
	assert.Equal(t, "InvalidParameterValue", code(t, err))
}

func TestDescribeInstanceTypes(t *testing.T) {
	e := newEnv(t, fakeec2.Config{})
	out, err := e.ec2.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{"m5.large", "m3.2xlarge", "p4d.24xlarge", "c5.metal"}})
	require.NoError(t, err)
	by := map[types.InstanceType]types.InstanceTypeInfo{}
	for _, it := range out.InstanceTypes {
		by[it.InstanceType] = it
	}
	m5 := by["m5.large"]
	assert.EqualValues(t, 3, aws.ToInt32(m5.NetworkInfo.MaximumNetworkInterfaces))
	assert.EqualValues(t, 10, aws.ToInt32(m5.NetworkInfo.Ipv4AddressesPerInterface))
	assert.Equal(t, types.InstanceTypeHypervisorNitro, m5.Hypervisor)
	assert.False(t, aws.ToBool(m5.BareMetal))
	assert.EqualValues(t, 0, aws.ToInt32(m5.NetworkInfo.DefaultNetworkCardIndex))
	require.Len(t, m5.NetworkInfo.NetworkCards, 1)
	assert.EqualValues(t, 3, aws.ToInt32(m5.NetworkInfo.NetworkCards[0].MaximumNetworkInterfaces))
	assert.Equal(t, types.InstanceTypeHypervisorXen, by["m3.2xlarge"].Hypervisor)
	assert.True(t, aws.ToBool(by["c5.metal"].BareMetal))
	assert.Greater(t, len(by["p4d.24xlarge"].NetworkInfo.NetworkCards), 1)

	_, err = e.ec2.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{"m5.huge"}})
	assert.Equal(t, "InvalidInstanceType", code(t, err))

	n := 0
	p := ec2.NewDescribeInstanceTypesPaginator(e.ec2, &ec2.DescribeInstanceTypesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(e.ctx)
		require.NoError(t, err)
		n += len(page.InstanceTypes)
	}
	assert.Equal(t, 1391, n, "every type, paginated")
}

func TestSameSeedSameChoices(t *testing.T) {
	run := func(seed int64) []fakeec2.ENI {
		e := newEnv(t, fakeec2.Config{Seed: seed})
		v, _ := e.srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
		sn, _ := e.srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: v.ID, CIDR: "10.0.0.0/20"})
		in, err := e.srv.RunInstance(fakeec2.InstanceSpec{Type: "m5.xlarge", SubnetID: sn.ID})
		require.NoError(t, err)
		_, err = e.ec2.AssignPrivateIpAddresses(e.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(in.ENIs[0].ID), SecondaryPrivateIpAddressCount: aws.Int32(5)})
		require.NoError(t, err)
		_, err = e.ec2.CreateNetworkInterface(e.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(sn.ID), Ipv4PrefixCount: aws.Int32(2)})
		require.NoError(t, err)
		return e.srv.ENIs()
	}
	a, b, c := run(42), run(42), run(43)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a[0].ID, c[0].ID)
	assert.NotEqual(t, a[0].SecondaryIPs, c[0].SecondaryIPs)
}

func TestNetworkCardsHaveTheirOwnLimitsAndIndexes(t *testing.T) {
	l := newLab(t, "p4d.24xlarge") // 4 cards × 15 ENIs
	onCard := func(card, dev int32) error {
		_, err := l.ec2.AttachNetworkInterface(l.ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: l.newENI(t, l.sub.ID).NetworkInterfaceId,
			InstanceId: aws.String(l.inst.ID), DeviceIndex: aws.Int32(dev), NetworkCardIndex: aws.Int32(card)})
		return err
	}
	require.NoError(t, onCard(1, 1))
	assert.Equal(t, "InvalidParameterValue", code(t, onCard(1, 1)), "same card, same index")
	require.NoError(t, onCard(2, 1), "same index on another card")
	assert.Equal(t, "InvalidParameterValue", code(t, onCard(4, 1)), "no card 4")
	for dev := int32(1); dev <= 15; dev++ {
		require.NoError(t, onCard(3, dev), "card 3 holds 15")
	}
	assert.Equal(t, "AttachmentLimitExceeded", code(t, onCard(3, 16)), "16th on card 3")
	require.NoError(t, onCard(0, 1), "card 0 is unaffected")
	in, _ := l.srv.Instance(l.inst.ID)
	assert.Len(t, in.ENIs, 19)
	assert.Equal(t, 0, in.ENIs[0].NetworkCard)
	assert.Equal(t, 0, in.ENIs[0].DeviceIndex)
}

func TestSecurityGroupsNamedLikeIDs(t *testing.T) {
	l := newLab(t, "m5.large")
	id, err := l.srv.CreateSecurityGroup("sg-1", l.vpc.ID)
	require.NoError(t, err)
	assert.Equal(t, "sg-1", id, "an ENIConfig can name sg-1 before the lab creates it")
	other, err := l.srv.CreateSecurityGroup("pods", l.vpc.ID)
	require.NoError(t, err)
	assert.Regexp(t, `^sg-[0-9a-f]{17}$`, other)
	out, err := l.ec2.CreateNetworkInterface(l.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(l.sub.ID), Groups: []string{"sg-1", other}})
	require.NoError(t, err)
	assert.Len(t, out.NetworkInterface.Groups, 2)
	_, err = l.ec2.CreateNetworkInterface(l.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(l.sub.ID), Groups: []string{"sg-00000000000000002"}})
	assert.Equal(t, "InvalidSecurityGroupID.NotFound", code(t, err))
	_, err = l.ec2.ModifyNetworkInterfaceAttribute(l.ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: out.NetworkInterface.NetworkInterfaceId, Groups: []string{other}})
	require.NoError(t, err)
	got, _ := l.srv.ENI(aws.ToString(out.NetworkInterface.NetworkInterfaceId))
	assert.Equal(t, []string{other}, got.SecurityGroups)
}

func TestTerminateHonoursDeleteOnTermination(t *testing.T) {
	l := newLab(t, "m5.large")
	keep := aws.ToString(l.newENI(t, l.sub.ID).NetworkInterfaceId)
	drop := aws.ToString(l.newENI(t, l.sub.ID).NetworkInterfaceId)
	_, err := l.attach(t, keep, 1)
	require.NoError(t, err)
	att, err := l.attach(t, drop, 2)
	require.NoError(t, err)
	_, err = l.ec2.ModifyNetworkInterfaceAttribute(l.ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(drop),
		Attachment: &types.NetworkInterfaceAttachmentChanges{AttachmentId: aws.String(att), DeleteOnTermination: aws.Bool(true)}})
	require.NoError(t, err)
	before, _ := l.srv.Subnet(l.sub.ID)
	_, err = l.ec2.TerminateInstances(l.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{l.inst.ID}})
	require.NoError(t, err)
	_, ok := l.srv.ENI(drop)
	assert.False(t, ok, "DeleteOnTermination ENI deleted")
	_, ok = l.srv.ENI(l.inst.ENIs[0].ID)
	assert.False(t, ok, "primary deleted")
	k, ok := l.srv.ENI(keep)
	require.True(t, ok)
	assert.Equal(t, "available", k.Status)
	assert.Empty(t, k.InstanceID)
	after, _ := l.srv.Subnet(l.sub.ID)
	assert.Equal(t, before.Free+2, after.Free)
	_, ok = l.srv.Instance(l.inst.ID)
	assert.False(t, ok, "views show running instances only")
	// EC2 keeps showing the terminated instance, and terminating again is fine.
	_, err = l.ec2.TerminateInstances(l.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{l.inst.ID}})
	require.NoError(t, err)
	di, err := l.ec2.DescribeInstances(l.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{l.inst.ID}})
	require.NoError(t, err)
	assert.Contains(t, []types.InstanceStateName{types.InstanceStateNameShuttingDown, types.InstanceStateNameTerminated},
		di.Reservations[0].Instances[0].State.Name, "shutting-down for InstanceShutdown, then terminated (TestInstanceLifecycle)")
	_, err = l.attach(t, keep, 1)
	assert.Equal(t, "IncorrectInstanceState", code(t, err))
}

func TestDeletesRespectDependencies(t *testing.T) {
	l := newLab(t, "m5.large")
	before, _ := l.srv.Subnet(l.sub.ID)
	res, err := l.ec2.CreateSubnetCidrReservation(l.ctx, &ec2.CreateSubnetCidrReservationInput{SubnetId: aws.String(l.sub.ID), Cidr: aws.String("10.0.0.64/26"), ReservationType: types.SubnetCidrReservationTypeExplicit})
	require.NoError(t, err)
	got, err := l.ec2.GetSubnetCidrReservations(l.ctx, &ec2.GetSubnetCidrReservationsInput{SubnetId: aws.String(l.sub.ID)})
	require.NoError(t, err)
	require.Len(t, got.SubnetIpv4CidrReservations, 1)
	_, err = l.ec2.DeleteSubnetCidrReservation(l.ctx, &ec2.DeleteSubnetCidrReservationInput{SubnetCidrReservationId: res.SubnetCidrReservation.SubnetCidrReservationId})
	require.NoError(t, err)
	after, _ := l.srv.Subnet(l.sub.ID)
	assert.Equal(t, before.Free, after.Free, "the range is free again")

	_, err = l.ec2.DeleteSubnet(l.ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(l.sub.ID)})
	assert.Equal(t, "DependencyViolation", code(t, err), "an instance lives there")
	_, err = l.ec2.DeleteVpc(l.ctx, &ec2.DeleteVpcInput{VpcId: aws.String(l.vpc.ID)})
	assert.Equal(t, "DependencyViolation", code(t, err))
	sg, err := l.ec2.CreateSecurityGroup(l.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("extra"), Description: aws.String("x"), VpcId: aws.String(l.vpc.ID)})
	require.NoError(t, err)
	_, err = l.ec2.DeleteSecurityGroup(l.ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(l.inst.ENIs[0].SecurityGroups[0])})
	assert.Equal(t, "CannotDelete", code(t, err), "the default group")

	require.NoError(t, l.srv.TerminateInstance(l.inst.ID))
	_, err = l.ec2.DeleteSubnet(l.ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(l.sub.ID)})
	require.NoError(t, err)
	_, err = l.ec2.DeleteVpc(l.ctx, &ec2.DeleteVpcInput{VpcId: aws.String(l.vpc.ID)})
	assert.Equal(t, "DependencyViolation", code(t, err), "the extra group is left")
	_, err = l.ec2.DeleteSecurityGroup(l.ctx, &ec2.DeleteSecurityGroupInput{GroupId: sg.GroupId})
	require.NoError(t, err)
	_, err = l.ec2.DeleteVpc(l.ctx, &ec2.DeleteVpcInput{VpcId: aws.String(l.vpc.ID)})
	require.NoError(t, err)
	_, ok := l.srv.VPC(l.vpc.ID)
	assert.False(t, ok)
	_, err = l.ec2.DeleteSubnet(l.ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(l.sub.ID)})
	assert.Equal(t, "InvalidSubnetID.NotFound", code(t, err))
}

// RunInstances tags its instances and their ENIs from one request, and
// refuses a resource type it cannot tag.
func TestRunInstancesTagSpecifications(t *testing.T) {
	l := newLab(t, "m5.large")
	tag := func(k, v string) []types.Tag { return []types.Tag{{Key: aws.String(k), Value: aws.String(v)}} }
	run, err := l.ec2.RunInstances(l.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: types.InstanceTypeM5Large,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(l.sub.ID),
		TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeInstance, Tags: tag("Name", "node-2")},
			{ResourceType: types.ResourceTypeNetworkInterface, Tags: tag("role", "primary")},
			{ResourceType: types.ResourceTypeVolume, Tags: tag("ignored", "yes")},
		}})
	require.NoError(t, err)
	in := run.Instances[0]
	di, err := l.ec2.DescribeInstances(l.ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"node-2"}}}})
	require.NoError(t, err)
	require.Len(t, di.Reservations, 1)
	assert.Equal(t, aws.ToString(in.InstanceId), aws.ToString(di.Reservations[0].Instances[0].InstanceId))
	n, ok := l.srv.ENI(aws.ToString(in.NetworkInterfaces[0].NetworkInterfaceId))
	require.True(t, ok)
	assert.Equal(t, map[string]string{"role": "primary"}, n.Tags, "only the network-interface tags")

	_, err = l.ec2.RunInstances(l.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: types.InstanceTypeM5Large,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(l.sub.ID),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpc, Tags: tag("a", "b")}}})
	assert.Equal(t, "InvalidParameterValue", code(t, err))
	_, err = l.ec2.CreateNetworkInterface(l.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(l.sub.ID),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tag("a", "b")}}})
	assert.Equal(t, "InvalidParameterValue", code(t, err), "an ENI is not an instance")
}

func TestDescribeAvailabilityZonesAndInterfaceAttribute(t *testing.T) {
	l := newLab(t, "m5.large")
	az, err := l.ec2.DescribeAvailabilityZones(l.ctx, &ec2.DescribeAvailabilityZonesInput{})
	require.NoError(t, err)
	require.NotEmpty(t, az.AvailabilityZones)
	assert.Equal(t, "us-west-2a", aws.ToString(az.AvailabilityZones[0].ZoneName))
	assert.Equal(t, "usw2-az1", aws.ToString(az.AvailabilityZones[0].ZoneId))

	eni := aws.String(l.inst.ENIs[0].ID)
	att, err := l.ec2.DescribeNetworkInterfaceAttribute(l.ctx, &ec2.DescribeNetworkInterfaceAttributeInput{NetworkInterfaceId: eni, Attribute: types.NetworkInterfaceAttributeAttachment})
	require.NoError(t, err)
	assert.Equal(t, l.inst.ID, aws.ToString(att.Attachment.InstanceId))
	assert.EqualValues(t, 0, aws.ToInt32(att.Attachment.DeviceIndex))
	gs, err := l.ec2.DescribeNetworkInterfaceAttribute(l.ctx, &ec2.DescribeNetworkInterfaceAttributeInput{NetworkInterfaceId: eni, Attribute: types.NetworkInterfaceAttributeGroupSet})
	require.NoError(t, err)
	require.Len(t, gs.Groups, 1)
	assert.Equal(t, l.inst.ENIs[0].SecurityGroups[0], aws.ToString(gs.Groups[0].GroupId))
	_, err = l.ec2.DescribeNetworkInterfaceAttribute(l.ctx, &ec2.DescribeNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String("eni-00000000000000404"), Attribute: types.NetworkInterfaceAttributeGroupSet})
	assert.Equal(t, "InvalidNetworkInterfaceID.NotFound", code(t, err))
}

// EC2 names an unknown group differently per action: CreateNetworkInterface
// answers InvalidSecurityGroupID.NotFound, RunInstances and
// ModifyNetworkInterfaceAttribute InvalidGroup.NotFound.
func TestUnknownSecurityGroupCodePerAction(t *testing.T) {
	l := newLab(t, "m5.large")
	_, err := l.ec2.CreateNetworkInterface(l.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(l.sub.ID), Groups: []string{"sg-0123456789abcdef0"}})
	assert.Equal(t, "InvalidSecurityGroupID.NotFound", code(t, err))
	var ae smithy.APIError
	require.ErrorAs(t, err, &ae)
	assert.Contains(t, ae.ErrorMessage(), "'sg-0123456789abcdef0'")
	_, err = l.ec2.RunInstances(l.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: types.InstanceTypeM5Large,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(l.sub.ID), SecurityGroupIds: []string{"sg-0123456789abcdef0"}})
	assert.Equal(t, "InvalidGroup.NotFound", code(t, err))
	_, err = l.ec2.ModifyNetworkInterfaceAttribute(l.ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID),
		Groups: []string{"sg-0123456789abcdef0"}})
	assert.Equal(t, "InvalidGroup.NotFound", code(t, err))
}

// SourceDestCheck is on for a new ENI; ModifyNetworkInterfaceAttribute
// turns it off and on, and both Describe calls show it.
func TestSourceDestCheckIsStored(t *testing.T) {
	l := newLab(t, "m5.large")
	out, err := l.ec2.CreateNetworkInterface(l.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(l.sub.ID)})
	require.NoError(t, err)
	id := out.NetworkInterface.NetworkInterfaceId
	assert.True(t, aws.ToBool(out.NetworkInterface.SourceDestCheck))
	check := func(want bool) {
		t.Helper()
		d, err := l.ec2.DescribeNetworkInterfaces(l.ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{aws.ToString(id)}})
		require.NoError(t, err)
		require.Len(t, d.NetworkInterfaces, 1)
		assert.Equal(t, want, aws.ToBool(d.NetworkInterfaces[0].SourceDestCheck))
		a, err := l.ec2.DescribeNetworkInterfaceAttribute(l.ctx, &ec2.DescribeNetworkInterfaceAttributeInput{NetworkInterfaceId: id,
			Attribute: types.NetworkInterfaceAttributeSourceDestCheck})
		require.NoError(t, err)
		require.NotNil(t, a.SourceDestCheck)
		assert.Equal(t, want, aws.ToBool(a.SourceDestCheck.Value))
	}
	check(true)
	for _, want := range []bool{false, true} {
		_, err = l.ec2.ModifyNetworkInterfaceAttribute(l.ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: id,
			SourceDestCheck: &types.AttributeBooleanValue{Value: aws.Bool(want)}})
		require.NoError(t, err)
		check(want)
	}
}
