package ipamd

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/ipamd/awsapi"
)

// describeTypes answers DescribeInstanceTypes and counts the calls.
type describeTypes struct {
	ec2API
	calls int
}

func (d *describeTypes) DescribeInstanceType(_ context.Context, name string) (awsapi.InstanceLimits, error) {
	d.calls++
	return awsapi.InstanceLimits{MaxENIs: 4, IPv4PerENI: 16, Hypervisor: "nitro", VCPUs: 48}, nil
}

// Upstream's fetchInstanceTypeLimits: the built-in table first (pkg/vpc's
// generated limits), DescribeInstanceTypes only for a type it lacks.
func TestInstanceLimitsFromTheTableFirst(t *testing.T) {
	api := &describeTypes{}
	d := &Daemon{ec2: api}
	lim, err := d.instanceLimits(context.Background(), "m5.large")
	require.NoError(t, err)
	assert.Equal(t, 3, lim.MaxENIs)
	assert.Equal(t, 10, lim.IPv4PerENI)
	assert.True(t, lim.SupportsPrefixes())
	assert.Zero(t, api.calls, "m5.large is in the table")

	lim, err = d.instanceLimits(context.Background(), "m99.huge")
	require.NoError(t, err)
	assert.Equal(t, 1, api.calls, "an unknown type is described")
	assert.Equal(t, 4, lim.MaxENIs)
	assert.Equal(t, 48, lim.VCPUs)
}
