package ec2limits

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTableHoldsEveryType(t *testing.T) {
	assert.Len(t, Names(), 1391)
}

// Lookup searches the table by halves, so the generator must write it
// sorted by name, each name once; a table out of order loses types.
func TestTableSortedByName(t *testing.T) {
	for i := 1; i < len(table); i++ {
		require.Less(t, table[i-1].Name, table[i].Name, "table row %d", i)
	}
	for _, n := range Names() {
		ty, ok := Lookup(n)
		require.True(t, ok, n)
		assert.Equal(t, n, ty.Name)
	}
	for _, n := range []string{"", "a", "a1", "zz.large", "m5.large ", "M5.LARGE"} {
		_, ok := Lookup(n)
		assert.False(t, ok, "%q", n)
	}
}

// fakeec2 bounds an unattached ENI's addresses by this generated constant.
func TestMaxIPv4PerENI(t *testing.T) {
	most := 0
	for _, n := range Names() {
		ty, _ := Lookup(n)
		most = max(most, ty.IPv4PerENI)
	}
	assert.Equal(t, most, MaxIPv4PerENI)
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
		{"mac2.metal", 8, "arm64_mac"}, {"g5g.xlarge", 4, "arm64"}, {"g4dn.xlarge", 4, "x86_64"},
		{"c4.8xlarge", 36, "x86_64"}, {"d2.8xlarge", 36, "x86_64"}, {"mac-m3ultra.metal", 28, "arm64_mac"},
	}
	for _, c := range cases {
		ty, ok := Lookup(c.name)
		require.True(t, ok, c.name)
		assert.Equal(t, c.vcpus, ty.VCPUs, c.name)
		assert.Equal(t, c.arch, ty.Architecture, c.name)
	}
	for _, n := range Names() {
		ty, _ := Lookup(n)
		assert.Positive(t, ty.VCPUs, "%s has vCPUs", n)
		if assert.Positive(t, ty.ThreadsPerCore, n) {
			assert.Zero(t, ty.VCPUs%ty.ThreadsPerCore, "%s: whole cores", n)
		}
	}
}

// Threads per core are EC2's: one on Graviton, Apple silicon, HPC and AMD
// from the 7th generation, two on other x86 types.
func TestThreadsPerCore(t *testing.T) {
	cases := map[string]int{
		"m5.large": 2, "c6i.large": 2, "r6a.large": 2, "m7g.large": 1, "t2.micro": 1, "t3.micro": 2,
		"m7a.large": 1, "c8a.metal-48xl": 1, "m8azn.large": 1, "hpc7a.12xlarge": 1, "hpc7g.4xlarge": 1,
		"mac1.metal": 2, "mac2.metal": 2, "mac-m4.metal": 1, "g7.2xlarge": 1, "g7e.2xlarge": 2,
		"u-6tb1.56xlarge": 1, "u-6tb1.112xlarge": 2,
	}
	for name, th := range cases {
		ty, ok := Lookup(name)
		require.True(t, ok, name)
		assert.Equal(t, th, ty.ThreadsPerCore, name)
	}
}

// Memory follows gen/memory.tsv: the family's GiB per vCPU times vCPUs, the
// burstable size table, u-*'s TiB, and the listed exceptions.
func TestMemory(t *testing.T) {
	cases := map[string]int{
		// the class rule
		"m5.large": 8192, "c5.large": 4096, "r5.large": 16384, "m7g.16xlarge": 262144,
		"z1d.large": 16384, "x2gd.large": 32768, "x2iedn.xlarge": 131072, "g6.xlarge": 16384,
		"c8id.metal-96xl": 786432, "m9g.medium": 4096, "i7ie.large": 16384,
		// burstable sizes and high memory
		"t3.nano": 512, "t3.micro": 1024, "t2.2xlarge": 32768, "t4g.medium": 4096,
		"u-6tb1.56xlarge": 6291456, "u7in-32tb.224xlarge": 33554432, "u-24tb1.metal": 25165824,
		// exceptions
		"p4d.24xlarge": 1179648, "p5.4xlarge": 262144, "hpc7a.12xlarge": 786432, "m2.4xlarge": 70041,
		"c5n.large": 5376, "c5n.18xlarge": 196608, "r3.large": 15360, "r3.xlarge": 31232,
		"x1e.xlarge": 124928, "mac2.metal": 16384, "t1.micro": 627, "trn2.3xlarge": 131072,
	}
	for name, mib := range cases {
		ty, ok := Lookup(name)
		require.True(t, ok, name)
		assert.Equal(t, mib, ty.MemoryMiB, name)
	}
	for _, n := range Names() {
		ty, _ := Lookup(n)
		assert.Positive(t, ty.MemoryMiB, "%s has memory", n)
	}
}
