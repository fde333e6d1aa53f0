package fakeec2

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/enilab/enilab/internal/ec2limits"
)

// DescribeInstanceTypes, answered from internal/ec2limits.

func (s *Server) describeInstanceTypes(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters("instance-type", "hypervisor", "bare-metal", "current-generation",
		"network-info.maximum-network-interfaces", "network-info.ipv4-addresses-per-interface", "network-info.maximum-network-cards")
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
		if !typeMatches(t, fs) {
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

func typeMatches(t ec2limits.Type, fs []filter) bool {
	for _, f := range fs {
		var v string
		switch f.name {
		case "instance-type":
			v = t.Name
		case "hypervisor":
			v = string(t.Hypervisor)
		case "bare-metal":
			v = strconv.FormatBool(t.BareMetal)
		case "current-generation":
			v = "true"
		case "network-info.maximum-network-interfaces":
			v = strconv.Itoa(totalENIs(t))
		case "network-info.ipv4-addresses-per-interface":
			v = strconv.Itoa(t.IPv4PerENI)
		case "network-info.maximum-network-cards":
			v = strconv.Itoa(len(t.NetworkCards))
		default:
			return false // tag filters: instance types carry no tags
		}
		if !anyMatch(f.values, v) {
			return false
		}
	}
	return true
}

func writeInstanceType(x *xw, t ec2limits.Type) {
	x.open("item")
	x.el("instanceType", t.Name)
	x.elBool("currentGeneration", true)
	x.elBool("bareMetal", t.BareMetal)
	if !t.BareMetal && t.Hypervisor != ec2limits.Unknown {
		x.el("hypervisor", string(t.Hypervisor))
	}
	x.raw("<supportedVirtualizationTypes><item>hvm</item></supportedVirtualizationTypes>")
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
	x.elBool("ipv6Supported", t.Hypervisor == ec2limits.Nitro || t.BareMetal)
	if t.Hypervisor == ec2limits.Nitro || t.BareMetal {
		x.el("enaSupport", "required")
	} else {
		x.el("enaSupport", "unsupported")
	}
	x.elBool("efaSupported", false)
	x.close("networkInfo")
	x.close("item")
}
