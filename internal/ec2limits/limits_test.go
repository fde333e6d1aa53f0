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

// vCPUs and architecture follow gen/vcpus.tsv's size rule and exceptions.
func TestVCPUsAndArchitecture(t *testing.T) {
	cases := []struct {
		name  string
		vcpus int
		arch  string
	}{
		{"t2.micro", 1, "x86_64"}, {"t3.micro", 2, "x86_64"}, {"t4g.medium", 2, "arm64"},
		{"m6g.medium", 1, "arm64"}, {"m5.large", 2, "x86_64"}, {"c5.xlarge", 4, "x86_64"},
		{"c5.24xlarge", 96, "x86_64"}, {"c5.metal", 96, "x86_64"}, {"c7i.metal-48xl", 192, "x86_64"},
		{"g4dn.metal", 96, "x86_64"}, {"hpc7a.96xlarge", 192, "x86_64"}, {"is4gen.large", 2, "arm64"},
		{"c7gn.large", 2, "arm64"}, {"a1.metal", 16, "arm64"}, {"mac1.metal", 12, "x86_64_mac"},
		{"mac2.metal", 12, "arm64_mac"}, {"g5g.xlarge", 4, "arm64"}, {"g4dn.xlarge", 4, "x86_64"},
		{"c4.8xlarge", 36, "x86_64"}, {"d2.8xlarge", 36, "x86_64"},
	}
	for _, c := range cases {
		ty, ok := Lookup(c.name)
		require.True(t, ok, c.name)
		assert.Equal(t, c.vcpus, ty.VCPUs, c.name)
		assert.Equal(t, c.arch, ty.Architecture, c.name)
	}
	unknown := 0
	for _, n := range Names() {
		if ty, _ := Lookup(n); ty.VCPUs == 0 {
			unknown++
		}
	}
	assert.LessOrEqual(t, unknown, 3, "only bmn-sf1.metal and two Mac hosts are unknown")
}

// Memory is EC2's answer where gen/api-2020.tsv has it, unknown (0) elsewhere.
func TestMemory(t *testing.T) {
	m5, _ := Lookup("m5.large")
	assert.Equal(t, 8192, m5.MemoryMiB)
	c4, _ := Lookup("c4.8xlarge")
	assert.Equal(t, 61440, c4.MemoryMiB)
	m7g, _ := Lookup("m7g.large")
	assert.Zero(t, m7g.MemoryMiB, "newer than the 2020 data")
}
