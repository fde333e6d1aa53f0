package fakeec2

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/enilab/enilab/internal/ec2limits"
)

// DescribeInstanceTypes, answered from internal/ec2limits.

func (s *Server) describeInstanceTypes(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters(typeFields().names()...)
	if e != nil {
		return e
	}
	want := p.list("InstanceType")
	if len(want) > 100 {
		return invalidParam("At most 100 instance types may be requested at once; %d were.", len(want))
	}
	var unknown []string
	for _, t := range want {
		if _, ok := ec2limits.Lookup(t); !ok {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) > 0 {
		for i, u := range unknown {
			unknown[i] = truncate(u, 64)
		}
		return errCode("InvalidInstanceType", 400, "The following supplied instance types do not exist: [%s]", strings.Join(unknown, ", "))
	}
	maxN, set, e := p.integer("MaxResults", 5, 100)
	if e != nil {
		return e
	}
	if !set {
		maxN = 100
	}
	var after uint64
	if tok := p.get("NextToken"); tok != "" {
		if after, e = decodeToken("type", tok); e != nil {
			return e
		}
	}
	names := ec2limits.Names()
	if len(want) > 0 {
		names = nil
		for _, n := range ec2limits.Names() {
			if slices.Contains(want, n) {
				names = append(names, n)
			}
		}
	}
	x.open("instanceTypeSet")
	count := 0
	next := -1
	for i := int(after); i < len(names); i++ {
		t, _ := ec2limits.Lookup(names[i])
		if !typeFields().match(t, nil, fs) {
			continue
		}
		if count == maxN {
			next = i
			break
		}
		writeInstanceType(x, t)
		count++
	}
	x.close("instanceTypeSet")
	if next >= 0 {
		x.el("nextToken", encodeToken("type", uint64(next)))
	}
	return nil
}

func totalENIs(t ec2limits.Type) int {
	n := 0
	for _, c := range t.NetworkCards {
		n += c.MaxENIs
	}
	if n == 0 {
		n = t.MaxENIs
	}
	return n
}

// typeFields holds every filter EC2 documents for DescribeInstanceTypes.
var typeFields = sync.OnceValue(func() fields[ec2limits.Type] {
	return fields[ec2limits.Type]{
		"instance-type":      func(t ec2limits.Type) []string { return one(t.Name) },
		"hypervisor":         typeHypervisor,
		"bare-metal":         func(t ec2limits.Type) []string { return boolVal(t.BareMetal) },
		"current-generation": constant[ec2limits.Type]("true"),
		"network-info.maximum-network-interfaces":   func(t ec2limits.Type) []string { return intVal(totalENIs(t)) },
		"network-info.ipv4-addresses-per-interface": func(t ec2limits.Type) []string { return intVal(t.IPv4PerENI) },
		"network-info.ipv6-addresses-per-interface": func(t ec2limits.Type) []string { return intVal(t.IPv4PerENI) },
		"network-info.ipv6-supported":               func(t ec2limits.Type) []string { return boolVal(modern(t)) },
		"network-info.maximum-network-cards":        func(t ec2limits.Type) []string { return intVal(max(1, len(t.NetworkCards))) },
		"network-info.ena-support":                  func(t ec2limits.Type) []string { return one(enaSupport(t)) },
		"network-info.efa-supported":                constant[ec2limits.Type]("false"),
		"processor-info.supported-architecture":     func(t ec2limits.Type) []string { return one(t.Architecture) },
		"processor-info.sustained-clock-speed-in-ghz": func(t ec2limits.Type) []string {
			if t.ClockGHz == 0 {
				return nil
			}
			return one(strconv.FormatFloat(t.ClockGHz, 'f', -1, 64))
		},
		"supported-virtualization-type":      constant[ec2limits.Type]("hvm"),
		"supported-root-device-type":         constant[ec2limits.Type]("ebs"),
		"supported-usage-class":              constant[ec2limits.Type]("on-demand", "spot"),
		"burstable-performance-supported":    func(t ec2limits.Type) []string { return boolVal(burstable(t)) },
		"free-tier-eligible":                 func(t ec2limits.Type) []string { return boolVal(freeTier(t)) },
		"supported-boot-mode":                func(t ec2limits.Type) []string { return bootModes(t) },
		"memory-info.size-in-mib":            func(t ec2limits.Type) []string { return knownInt(t.MemoryMiB) },
		"vcpu-info.default-vcpus":            func(t ec2limits.Type) []string { return knownInt(t.VCPUs) },
		"vcpu-info.default-cores":            func(t ec2limits.Type) []string { c, _ := cores(t); return knownInt(c) },
		"vcpu-info.default-threads-per-core": func(t ec2limits.Type) []string { _, th := cores(t); return knownInt(th) },
	}.documented("DescribeInstanceTypes")
})

// burstable is the T family's CPU credits.
func burstable(t ec2limits.Type) bool {
	return strings.HasPrefix(t.Name, "t") && !strings.HasPrefix(t.Name, "trn")
}

// freeTier is EC2's free-tier types.
func freeTier(t ec2limits.Type) bool { return t.Name == "t2.micro" || t.Name == "t3.micro" }

// bootModes: Graviton boots uefi only, Xen legacy-bios only, other x86 both.
func bootModes(t ec2limits.Type) []string {
	switch {
	case t.Architecture == "arm64":
		return []string{"uefi"}
	case t.Hypervisor == ec2limits.Xen:
		return []string{"legacy-bios"}
	}
	return []string{"legacy-bios", "uefi"}
}

func typeHypervisor(t ec2limits.Type) []string {
	if t.BareMetal || t.Hypervisor == ec2limits.Unknown {
		return nil
	}
	return one(string(t.Hypervisor))
}

// modern is a Nitro or bare-metal type: ENA, IPv6, prefixes.
func modern(t ec2limits.Type) bool { return t.Hypervisor == ec2limits.Nitro || t.BareMetal }

func enaSupport(t ec2limits.Type) string {
	if modern(t) {
		return "required"
	}
	return "unsupported"
}

func knownInt(n int) []string {
	if n == 0 {
		return nil
	}
	return intVal(n)
}

// cores splits a type's vCPUs into cores and threads per core, as EC2's
// VCpuInfo reports them (internal/ec2limits' ThreadsPerCore).
func cores(t ec2limits.Type) (cores, threads int) {
	if t.VCPUs == 0 || t.ThreadsPerCore == 0 {
		return 0, 0
	}
	return t.VCPUs / t.ThreadsPerCore, t.ThreadsPerCore
}

func writeInstanceType(x *xw, t ec2limits.Type) {
	x.open("item")
	x.el("instanceType", t.Name)
	x.elBool("currentGeneration", true)
	x.elBool("bareMetal", t.BareMetal)
	if !t.BareMetal && t.Hypervisor != ec2limits.Unknown {
		x.el("hypervisor", string(t.Hypervisor))
	}
	x.raw("<supportedUsageClasses><item>on-demand</item><item>spot</item></supportedUsageClasses>")
	x.raw("<supportedRootDeviceTypes><item>ebs</item></supportedRootDeviceTypes>")
	x.raw("<supportedVirtualizationTypes><item>hvm</item></supportedVirtualizationTypes>")
	x.elBool("freeTierEligible", freeTier(t))
	x.elBool("burstablePerformanceSupported", burstable(t))
	x.open("supportedBootModes")
	for _, m := range bootModes(t) {
		x.el("item", m)
	}
	x.close("supportedBootModes")
	x.open("processorInfo")
	x.open("supportedArchitectures")
	x.el("item", t.Architecture)
	x.close("supportedArchitectures")
	if t.ClockGHz > 0 {
		x.el("sustainedClockSpeedInGhz", strconv.FormatFloat(t.ClockGHz, 'f', -1, 64))
	}
	x.el("manufacturer", t.Manufacturer)
	x.close("processorInfo")
	if c, th := cores(t); c > 0 {
		x.open("vCpuInfo")
		x.elInt("defaultVCpus", t.VCPUs)
		x.elInt("defaultCores", c)
		x.elInt("defaultThreadsPerCore", th)
		x.close("vCpuInfo")
	}
	if t.MemoryMiB > 0 {
		x.open("memoryInfo")
		x.elInt("sizeInMiB", t.MemoryMiB)
		x.close("memoryInfo")
	}
	x.open("networkInfo")
	x.elInt("maximumNetworkInterfaces", totalENIs(t))
	x.elInt("maximumNetworkCards", max(1, len(t.NetworkCards)))
	x.elInt("defaultNetworkCardIndex", t.DefaultNetworkCard)
	x.open("networkCards")
	for _, c := range t.NetworkCards {
		x.open("item")
		x.elInt("networkCardIndex", c.Index)
		x.elInt("maximumNetworkInterfaces", c.MaxENIs)
		x.close("item")
	}
	x.close("networkCards")
	x.elInt("ipv4AddressesPerInterface", t.IPv4PerENI)
	x.elInt("ipv6AddressesPerInterface", t.IPv4PerENI)
	x.elBool("ipv6Supported", modern(t))
	x.el("enaSupport", enaSupport(t))
	x.elBool("efaSupported", false)
	x.close("networkInfo")
	x.close("item")
}
