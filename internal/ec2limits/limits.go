// Package ec2limits holds the networking limits of every EC2 instance type
// enilab knows, generated from shared/data/instance-types.tsv so that the
// project builds without ../shared. It is neutral ground: fakeec2 enforces these
// limits and serves them through DescribeInstanceTypes, and ipamd reads them as
// upstream reads its generated table (pkg/vpc/vpc_ip_resource_limit.go).
package ec2limits

import (
	"sort"
	"sync"
)

//go:generate go run ./gen -in ../../../shared/data/instance-types.tsv -vcpus gen/vcpus.tsv -api gen/api-2020.tsv -memory gen/memory.tsv -clock gen/clock.tsv -out table.go

// Hypervisor is the virtualisation platform of an instance type.
type Hypervisor string

// Hypervisors as EC2 reports them; bare-metal types report none and are
// listed here as Unknown.
const (
	Nitro   Hypervisor = "nitro"
	Xen     Hypervisor = "xen"
	Unknown Hypervisor = "unknown"
)

// NetworkCard is one network card of an instance type.
type NetworkCard struct {
	Index   int
	MaxENIs int
}

// Type is the networking description of one instance type.
type Type struct {
	Name string
	// MaxENIs is the number of ENIs on the default network card.
	MaxENIs int
	// IPv4PerENI counts the primary address too.
	IPv4PerENI         int
	Hypervisor         Hypervisor
	BareMetal          bool
	DefaultNetworkCard int
	NetworkCards       []NetworkCard
	// Trunking is "true", "false" or "unknown" as the source table says.
	Trunking string
	// BranchENIs is -1 where unknown.
	BranchENIs int
	// VCPUs is the default vCPU count (DescribeInstanceTypes VCpuInfo.DefaultVCpus).
	VCPUs int
	// ThreadsPerCore is EC2's VCpuInfo.DefaultThreadsPerCore: VCPUs divide
	// into VCPUs/ThreadsPerCore cores.
	ThreadsPerCore int
	// MemoryMiB is the memory EC2 reports (MemoryInfo.SizeInMiB), by
	// gen/memory.tsv's rule and exceptions.
	MemoryMiB int
	// Architecture is EC2's ArchitectureType: x86_64, arm64, x86_64_mac or
	// arm64_mac.
	Architecture string
	// Manufacturer is EC2's ProcessorInfo.Manufacturer: Intel, AMD, AWS
	// (Graviton) or Apple.
	Manufacturer string
	// ClockGHz is EC2's ProcessorInfo.SustainedClockSpeedInGhz (gen/clock.tsv);
	// 0 where EC2 reports none.
	ClockGHz float64
}

// SupportsPrefixes reports whether EC2 lets this type hold /28 prefixes:
// only Nitro and bare-metal instances do.
func (t Type) SupportsPrefixes() bool { return t.Hypervisor == Nitro || t.BareMetal }

// MaxENIsOnCard returns the ENI limit of network card idx, or 0 when the
// type has no such card.
func (t Type) MaxENIsOnCard(idx int) int {
	for _, c := range t.NetworkCards {
		if c.Index == idx {
			return c.MaxENIs
		}
	}
	return 0
}

// Lookup returns the limits of the named instance type.
func Lookup(name string) (Type, bool) {
	i := sort.Search(len(table), func(i int) bool { return table[i].Name >= name })
	if i == len(table) || table[i].Name != name {
		return Type{}, false
	}
	return table[i], true
}

// Names returns every known instance type name, sorted.
func Names() []string { return names() }

// names is made at its first use, not at every start of a program.
var names = sync.OnceValue(func() []string {
	n := make([]string, len(table))
	for i, t := range table {
		n[i] = t.Name
	}
	return n
})
