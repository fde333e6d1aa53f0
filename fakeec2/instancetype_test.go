package fakeec2_test

import (
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
)

// DescribeInstanceTypes answers memoryInfo and vCpuInfo as EC2 does, through
// the SDK, for a sample across families: the class rule, burstable sizes,
// high memory, and types that break the rule (older generations,
// accelerated, HPC, Mac hosts).
func TestDescribeInstanceTypesMemoryAndVCPUs(t *testing.T) {
	e := newEnv(t, fakeec2.Config{})
	want := map[string][2]int{ // vCPUs, MiB
		"m5.large": {2, 8192}, "c5.large": {2, 4096}, "r5.large": {2, 16384}, "t3.micro": {2, 1024},
		"m7g.16xlarge": {64, 262144}, "p4d.24xlarge": {96, 1179648}, "x2iedn.32xlarge": {128, 4194304},
		"z1d.metal": {48, 393216}, "g6e.xlarge": {4, 32768}, "u-12tb1.metal": {448, 12582912},
		"m2.xlarge": {2, 17510}, "c5n.large": {2, 5376}, "hpc7a.12xlarge": {24, 786432},
		"mac-m4max.metal": {16, 131072}, "inf2.xlarge": {4, 16384}, "i3.large": {2, 15616},
	}
	var names []types.InstanceType
	for n := range want {
		names = append(names, types.InstanceType(n))
	}
	out, err := e.ec2.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: names})
	require.NoError(t, err)
	require.Len(t, out.InstanceTypes, len(want))
	for _, it := range out.InstanceTypes {
		w := want[string(it.InstanceType)]
		require.NotNil(t, it.MemoryInfo, it.InstanceType)
		require.NotNil(t, it.VCpuInfo, it.InstanceType)
		assert.EqualValues(t, w[1], aws.ToInt64(it.MemoryInfo.SizeInMiB), "%s memory", it.InstanceType)
		assert.EqualValues(t, w[0], aws.ToInt32(it.VCpuInfo.DefaultVCpus), "%s vCPUs", it.InstanceType)
	}
}

// vCpuInfo's cores and threads per core are EC2's, not a guess from the
// architecture: AMD's 7th generation and HPC types run one thread per core.
func TestDescribeInstanceTypesCores(t *testing.T) {
	e := newEnv(t, fakeec2.Config{})
	want := map[string][2]int{ // cores, threads per core
		"m5.large": {1, 2}, "m7a.large": {2, 1}, "m7g.16xlarge": {64, 1}, "hpc7a.12xlarge": {24, 1}, "mac2.metal": {4, 2},
	}
	var names []types.InstanceType
	for n := range want {
		names = append(names, types.InstanceType(n))
	}
	out, err := e.ec2.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: names})
	require.NoError(t, err)
	require.Len(t, out.InstanceTypes, len(want))
	for _, it := range out.InstanceTypes {
		w := want[string(it.InstanceType)]
		require.NotNil(t, it.VCpuInfo, it.InstanceType)
		assert.EqualValues(t, w[0], aws.ToInt32(it.VCpuInfo.DefaultCores), "%s cores", it.InstanceType)
		assert.EqualValues(t, w[1], aws.ToInt32(it.VCpuInfo.DefaultThreadsPerCore), "%s threads", it.InstanceType)
	}
}

// Every type fakeec2 knows answers memoryInfo, vCpuInfo and processorInfo
// (architecture and manufacturer), as every type
// EC2 lists does.
func TestEveryInstanceTypeHasMemoryAndVCPUs(t *testing.T) {
	e := newEnv(t, fakeec2.Config{})
	n := 0
	p := ec2.NewDescribeInstanceTypesPaginator(e.ec2, &ec2.DescribeInstanceTypesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(e.ctx)
		require.NoError(t, err)
		for _, it := range page.InstanceTypes {
			n++
			if assert.NotNil(t, it.MemoryInfo, it.InstanceType) {
				assert.Positive(t, aws.ToInt64(it.MemoryInfo.SizeInMiB), it.InstanceType)
			}
			if assert.NotNil(t, it.VCpuInfo, it.InstanceType) {
				assert.Positive(t, aws.ToInt32(it.VCpuInfo.DefaultVCpus), it.InstanceType)
			}
			if assert.NotNil(t, it.ProcessorInfo, it.InstanceType) {
				assert.Contains(t, []string{"Intel", "AMD", "AWS", "Apple"}, aws.ToString(it.ProcessorInfo.Manufacturer), it.InstanceType)
				assert.Len(t, it.ProcessorInfo.SupportedArchitectures, 1, it.InstanceType)
			}
		}
	}
	assert.Equal(t, 1391, n)
}

// The memory-info.size-in-mib filter EC2 documents selects by that figure.
func TestDescribeInstanceTypesMemoryFilter(t *testing.T) {
	e := newEnv(t, fakeec2.Config{})
	out, err := e.ec2.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{
		InstanceTypes: []types.InstanceType{"m5.large", "c5.xlarge", "r5.large", "t3.large"},
		Filters:       []types.Filter{{Name: aws.String("memory-info.size-in-mib"), Values: []string{strconv.Itoa(8192)}}},
	})
	require.NoError(t, err)
	var got []string
	for _, it := range out.InstanceTypes {
		got = append(got, string(it.InstanceType))
	}
	assert.ElementsMatch(t, []string{"m5.large", "c5.xlarge", "t3.large"}, got)
}

// processorInfo names the architecture and the manufacturer EC2 reports:
// Intel, AMD (m7a, and g5 whose name carries no a), AWS (Graviton), Apple.
func TestDescribeInstanceTypesProcessor(t *testing.T) {
	e := newEnv(t, fakeec2.Config{})
	want := map[string][3]string{ // architecture, manufacturer, sustained GHz ("" = none)
		"m5.large": {"x86_64", "Intel", "3.1"}, "m7a.large": {"x86_64", "AMD", "3.7"}, "g5.xlarge": {"x86_64", "AMD", "3.3"},
		"m7g.large": {"arm64", "AWS", "2.6"}, "mac2.metal": {"arm64_mac", "Apple", "3.2"}, "mac1.metal": {"x86_64_mac", "Intel", "3.2"},
		"m1.small": {"x86_64", "Intel", ""},
	}
	var names []types.InstanceType
	for n := range want {
		names = append(names, types.InstanceType(n))
	}
	out, err := e.ec2.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: names})
	require.NoError(t, err)
	require.Len(t, out.InstanceTypes, len(want))
	for _, it := range out.InstanceTypes {
		w := want[string(it.InstanceType)]
		require.NotNil(t, it.ProcessorInfo, it.InstanceType)
		assert.Equal(t, []types.ArchitectureType{types.ArchitectureType(w[0])}, it.ProcessorInfo.SupportedArchitectures, "%s", it.InstanceType)
		assert.Equal(t, w[1], aws.ToString(it.ProcessorInfo.Manufacturer), "%s", it.InstanceType)
		if w[2] == "" {
			assert.Nil(t, it.ProcessorInfo.SustainedClockSpeedInGhz, "%s", it.InstanceType)
		} else {
			assert.Equal(t, w[2], strconv.FormatFloat(aws.ToFloat64(it.ProcessorInfo.SustainedClockSpeedInGhz), 'f', -1, 64), "%s", it.InstanceType)
		}
	}
	// EC2's filter on the clock speed.
	out, err = e.ec2.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: names,
		Filters: []types.Filter{{Name: aws.String("processor-info.sustained-clock-speed-in-ghz"), Values: []string{"3.1"}}}})
	require.NoError(t, err)
	require.Len(t, out.InstanceTypes, 1)
	assert.Equal(t, types.InstanceTypeM5Large, out.InstanceTypes[0].InstanceType)
}
