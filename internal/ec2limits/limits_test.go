package ec2limits

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTableHoldsEveryType(t *testing.T) {
	assert.Len(t, Names(), 1391)
}

func TestKnownTypes(t *testing.T) {
	m5, ok := Lookup("m5.large")
	require.True(t, ok)
	assert.Equal(t, 3, m5.MaxENIs)
	assert.Equal(t, 10, m5.IPv4PerENI)
	assert.True(t, m5.SupportsPrefixes())

	m3, ok := Lookup("m3.2xlarge")
	require.True(t, ok)
	assert.Equal(t, Xen, m3.Hypervisor)
	assert.False(t, m3.SupportsPrefixes(), "xen types cannot hold prefixes")

	metal, ok := Lookup("c5.metal")
	require.True(t, ok)
	assert.True(t, metal.BareMetal)
	assert.True(t, metal.SupportsPrefixes(), "bare metal holds prefixes")

	_, ok = Lookup("m5.nonexistent")
	assert.False(t, ok)
}
