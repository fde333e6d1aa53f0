package fakeec2_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (l *lab) newTypedENI(t *testing.T, typ types.NetworkInterfaceCreationType) string {
	t.Helper()
	out, err := l.ec2.CreateNetworkInterface(l.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(l.sub.ID), InterfaceType: typ})
	require.NoError(t, err)
	return aws.ToString(out.NetworkInterface.NetworkInterfaceId)
}

func (l *lab) associate(branch, trunk string, vlan int32) (*ec2.AssociateTrunkInterfaceOutput, error) {
	return l.ec2.AssociateTrunkInterface(l.ctx, &ec2.AssociateTrunkInterfaceInput{BranchInterfaceId: aws.String(branch), TrunkInterfaceId: aws.String(trunk), VlanId: aws.Int32(vlan)})
}

// What the VPC resource controller does for security groups for pods on
// an m5.large: a trunk ENI attached to the instance, then branch ENIs
// associated with it under their own VLAN ids — 9 at most, the type's
// branch limit (shared/data/instance-types.tsv).
func TestTrunkAndBranchENIs(t *testing.T) {
	l := newLab(t, "m5.large")
	trunk := l.newTypedENI(t, types.NetworkInterfaceCreationTypeTrunk)
	_, err := l.attach(t, trunk, 1)
	require.NoError(t, err)

	var branches []string
	for i := range 9 {
		b := l.newTypedENI(t, types.NetworkInterfaceCreationTypeBranch)
		out, err := l.associate(b, trunk, int32(i+1))
		require.NoError(t, err, "branch %d", i+1)
		a := out.InterfaceAssociation
		assert.Regexp(t, `^trunk-assoc-[0-9a-f]{17}$`, aws.ToString(a.AssociationId))
		assert.Equal(t, types.InterfaceProtocolTypeVlan, a.InterfaceProtocol)
		assert.EqualValues(t, i+1, aws.ToInt32(a.VlanId))
		branches = append(branches, b)
	}
	tenth := l.newTypedENI(t, types.NetworkInterfaceCreationTypeBranch)
	_, err = l.associate(tenth, trunk, 10)
	assert.Equal(t, "InvalidParameterValue", code(t, err))
	assert.Contains(t, message(t, err), "maximum number of branch interfaces (9)")

	d, err := l.ec2.DescribeTrunkInterfaceAssociations(l.ctx, &ec2.DescribeTrunkInterfaceAssociationsInput{Filters: []types.Filter{
		{Name: aws.String("trunk-interface-association.branch-interface-id"), Values: []string{branches[3]}}}})
	require.NoError(t, err)
	require.Len(t, d.InterfaceAssociations, 1)
	assert.EqualValues(t, 4, aws.ToInt32(d.InterfaceAssociations[0].VlanId))
	all, err := l.ec2.DescribeTrunkInterfaceAssociations(l.ctx, &ec2.DescribeTrunkInterfaceAssociationsInput{MaxResults: aws.Int32(5)})
	require.NoError(t, err)
	assert.Len(t, all.InterfaceAssociations, 5)
	require.NotNil(t, all.NextToken, "paged")

	// Deleting a branch ENI (what the controller does when its pod goes)
	// frees its VLAN id and a branch slot.
	_, err = l.ec2.DeleteNetworkInterface(l.ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(branches[0])})
	require.NoError(t, err)
	_, err = l.associate(tenth, trunk, 1)
	require.NoError(t, err)
	assert.Len(t, l.srv.TrunkAssociations(), 9)

	// Disassociate by id; an unknown id is EC2's NotFound.
	id := aws.ToString(d.InterfaceAssociations[0].AssociationId)
	_, err = l.ec2.DisassociateTrunkInterface(l.ctx, &ec2.DisassociateTrunkInterfaceInput{AssociationId: aws.String(id)})
	require.NoError(t, err)
	_, err = l.ec2.DisassociateTrunkInterface(l.ctx, &ec2.DisassociateTrunkInterfaceInput{AssociationId: aws.String(id)})
	assert.Equal(t, "InvalidAssociationID.NotFound", code(t, err))

	// Terminating the instance takes the trunk's associations with it; the
	// branch ENIs stay (deleted by whoever made them, or leaked).
	_, err = l.ec2.TerminateInstances(l.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{l.inst.ID}})
	require.NoError(t, err)
	assert.Empty(t, l.srv.TrunkAssociations())
	_, ok := l.srv.ENI(branches[1])
	assert.True(t, ok, "the branch ENI outlives its association")
}

// EC2's refusals around trunks and branches.
func TestTrunkErrors(t *testing.T) {
	l := newLab(t, "m5.large")
	trunk := l.newTypedENI(t, types.NetworkInterfaceCreationTypeTrunk)
	branch := l.newTypedENI(t, types.NetworkInterfaceCreationTypeBranch)
	plain := l.newENI(t, l.sub.ID)

	_, err := l.associate(branch, trunk, 1)
	assert.Equal(t, "IncorrectState", code(t, err), "trunk not attached yet")
	_, err = l.attach(t, branch, 2)
	assert.Equal(t, "InvalidParameterValue", code(t, err), "a branch ENI is never attached")
	_, err = l.attach(t, trunk, 1)
	require.NoError(t, err)
	_, err = l.associate(aws.ToString(plain.NetworkInterfaceId), trunk, 1)
	assert.Equal(t, "InvalidParameterValue", code(t, err), "not a branch interface")
	_, err = l.associate(branch, aws.ToString(plain.NetworkInterfaceId), 1)
	assert.Equal(t, "InvalidParameterValue", code(t, err), "not a trunk interface")
	_, err = l.associate(branch, trunk, 4095)
	assert.Equal(t, "InvalidParameterValue", code(t, err), "VLAN ids are 1-4094")
	_, err = l.associate(branch, trunk, 7)
	require.NoError(t, err)
	_, err = l.associate(branch, trunk, 8)
	assert.Equal(t, "InvalidParameterValue", code(t, err), "already associated")
	other := l.newTypedENI(t, types.NetworkInterfaceCreationTypeBranch)
	_, err = l.associate(other, trunk, 7)
	assert.Equal(t, "InvalidParameterValue", code(t, err), "VLAN id in use")
	_, err = l.ec2.AssociateTrunkInterface(l.ctx, &ec2.AssociateTrunkInterfaceInput{BranchInterfaceId: aws.String(other), TrunkInterfaceId: aws.String(trunk)})
	assert.Equal(t, "MissingParameter", code(t, err))

	// Trunking needs a type that supports it (a c4 does not).
	xen := newLab(t, "c4.large")
	xt := xen.newTypedENI(t, types.NetworkInterfaceCreationTypeTrunk)
	_, err = xen.attach(t, xt, 1)
	assert.Equal(t, "UnsupportedOperation", code(t, err))
}
