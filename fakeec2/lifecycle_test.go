package fakeec2_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/clock"
)

// An instance is pending, then running, on the lab clock; terminated, it is
// shutting-down, then terminated; each of a launch has its amiLaunchIndex.
func TestInstanceLifecycle(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newEnv(t, fakeec2.Config{Seed: 1, Clock: clk, InstancePending: 10 * time.Second, InstanceShutdown: 5 * time.Second})
	v, err := e.srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
	require.NoError(t, err)
	sn, err := e.srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: v.ID, CIDR: "10.0.0.0/24"})
	require.NoError(t, err)
	run, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{InstanceType: types.InstanceTypeM6gLarge,
		MinCount: aws.Int32(3), MaxCount: aws.Int32(3), SubnetId: aws.String(sn.ID)})
	require.NoError(t, err)
	var ids []string
	for i, in := range run.Instances {
		ids = append(ids, aws.ToString(in.InstanceId))
		assert.EqualValues(t, i, aws.ToInt32(in.AmiLaunchIndex))
		assert.Equal(t, types.ArchitectureValuesArm64, in.Architecture, "m6g is Graviton")
		assert.Equal(t, types.InstanceStateNamePending, in.State.Name)
		assert.EqualValues(t, 0, aws.ToInt32(in.State.Code))
	}
	state := func() types.InstanceState {
		out, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: ids[:1]})
		require.NoError(t, err)
		return *out.Reservations[0].Instances[0].State
	}
	clk.Advance(9 * time.Second)
	assert.Equal(t, types.InstanceStateNamePending, state().Name)
	clk.Advance(time.Second)
	assert.Equal(t, types.InstanceStateNameRunning, state().Name)
	assert.EqualValues(t, 16, aws.ToInt32(state().Code))

	out, err := e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: ids[:1]})
	require.NoError(t, err)
	assert.Equal(t, types.InstanceStateNameShuttingDown, out.TerminatingInstances[0].CurrentState.Name)
	assert.Equal(t, types.InstanceStateNameRunning, out.TerminatingInstances[0].PreviousState.Name)
	assert.Equal(t, types.InstanceStateNameShuttingDown, state().Name)
	assert.EqualValues(t, 32, aws.ToInt32(state().Code))
	di, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: ids[:1]})
	require.NoError(t, err)
	gone := di.Reservations[0].Instances[0]
	assert.Equal(t, "Client.UserInitiatedShutdown", aws.ToString(gone.StateReason.Code))
	assert.Contains(t, aws.ToString(gone.StateTransitionReason), "User initiated")
	clk.Advance(5 * time.Second)
	assert.Equal(t, types.InstanceStateNameTerminated, state().Name)
	assert.EqualValues(t, 48, aws.ToInt32(state().Code))
}
