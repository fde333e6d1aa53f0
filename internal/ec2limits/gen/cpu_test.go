package main

import "testing"

func TestThreadsPerCoreRule(t *testing.T) {
	cases := []struct {
		name, arch  string
		vcpus, want int
	}{
		{"m5.large", "x86_64", 2, 2}, {"m6a.large", "x86_64", 2, 2}, {"m7a.large", "x86_64", 2, 1},
		{"x8aedz.large", "x86_64", 2, 1}, {"hpc6id.32xlarge", "x86_64", 64, 1}, {"m6g.large", "arm64", 2, 1},
		{"t2.large", "x86_64", 2, 1}, {"c7i-flex.large", "x86_64", 2, 2}, {"mac2.metal", "arm64_mac", 8, 2},
		{"m3.medium", "x86_64", 1, 1}, {"p6-b300.48xlarge", "x86_64", 192, 2},
	}
	for _, c := range cases {
		if got := threadsPerCore(c.name, c.arch, c.vcpus); got != c.want {
			t.Errorf("threadsPerCore(%s) = %d; want %d", c.name, got, c.want)
		}
	}
}

// EC2's ProcessorInfo.Manufacturer for a sample of each branch of the rule
// (figures as EC2's DescribeInstanceTypes answers them).
func TestManufacturerRule(t *testing.T) {
	for name, want := range map[string]string{
		"m5.large": "Intel", "m5a.large": "AMD", "c7a.large": "AMD", "g4ad.xlarge": "AMD", "hpc6a.48xlarge": "AMD",
		"g5.xlarge": "AMD", "p5.48xlarge": "AMD", "p4d.24xlarge": "Intel", "m6g.large": "AWS", "a1.large": "AWS",
		"mac1.metal": "Intel", "mac2.metal": "Apple", "u-6tb1.metal": "Intel", "c7i-flex.large": "Intel", "x8aedz.large": "AMD",
	} {
		if got := manufacturerOf(name, archOf(name)); got != want {
			t.Errorf("manufacturerOf(%s) = %s; want %s", name, got, want)
		}
	}
}
