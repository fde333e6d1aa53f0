package fakeec2

import (
	"maps"
	"strings"
	"sync"
	"time"
)

// instRow is one instance as a DescribeInstances filter sees it.
type instRow struct {
	s   *Server
	in  *instance
	now time.Time
}

// instFields holds every filter EC2 documents for DescribeInstances. The
// network-interface.* names read the attached ENIs through eniFields;
// the rest the fake does not keep match nothing.
var instFields = sync.OnceValue(func() fields[instRow] {
	fm := fields[instRow]{
		"architecture":         func(r instRow) []string { return one(r.in.lim.Architecture) },
		"availability-zone":    func(r instRow) []string { return one(r.in.az) },
		"availability-zone-id": func(r instRow) []string { return one(r.s.st.azID(r.in.az)) },
		"client-token":         none[instRow],
		"dns-name":             func(r instRow) []string { return one(publicDNS(r.in.publicIP(), r.s.cfg.Region)) },
		"ip-address": func(r instRow) []string {
			if a := r.in.publicIP(); a.IsValid() {
				return one(a.String())
			}
			return nil
		},
		"ebs-optimized":       constant[instRow]("false"),
		"ena-support":         constant[instRow]("true"),
		"hypervisor":          constant[instRow]("xen"),
		"image-id":            func(r instRow) []string { return one(r.in.imageID) },
		"instance-id":         func(r instRow) []string { return one(r.in.id) },
		"instance-state-code": func(r instRow) []string { _, c := r.in.phase(r.now); return intVal(c) },
		"instance-state-name": func(r instRow) []string { n, _ := r.in.phase(r.now); return one(n) },
		"instance-type":       func(r instRow) []string { return one(r.in.typ) },
		"instance.group-id":   func(r instRow) []string { return r.in.sgs },
		"instance.group-name": func(r instRow) []string { return r.s.st.groupNames(r.in.sgs) },
		"launch-index":        func(r instRow) []string { return intVal(r.in.launchIndex) },
		"launch-time":         func(r instRow) []string { return one(ts(r.in.launched)) },
		"monitoring-state":    constant[instRow]("disabled"),
		"owner-id":            func(r instRow) []string { return one(r.s.cfg.AccountID) },
		"private-dns-name":    func(r instRow) []string { return r.whileUp(r.s.st.dnsName(r.in.primaryIP)) },
		"private-ip-address":  func(r instRow) []string { return r.whileUp(r.in.primaryIP.String()) },
		"reservation-id":      func(r instRow) []string { return one(r.in.reservationID) },
		"root-device-name":    constant[instRow]("/dev/xvda"),
		"root-device-type":    constant[instRow]("ebs"),
		"source-dest-check":   func(r instRow) []string { return r.primaryENI("source-dest-check") },
		"subnet-id":           func(r instRow) []string { return r.whileUp(r.in.subnet.id) },
		"tenancy":             constant[instRow]("default"),
		"virtualization-type": constant[instRow]("hvm"),
		"vpc-id":              func(r instRow) []string { return r.whileUp(r.in.subnet.vpcID) },
		"network-interface.group-name": func(r instRow) []string {
			var out []string
			for _, n := range r.in.enis {
				out = append(out, r.s.st.groupNames(n.sgs)...)
			}
			return out
		},
		"network-interface.addresses.private-dns-name": func(r instRow) []string {
			var out []string
			for _, n := range r.in.enis {
				for _, a := range n.ips {
					out = append(out, r.s.st.dnsName(a.a))
				}
			}
			return out
		},
		"ipv6-address":                                func(r instRow) []string { return r.ipv6(false) },
		"network-interface.ipv6-address":              func(r instRow) []string { return r.ipv6(false) },
		"network-interface.ipv6-prefixes.ipv6-prefix": func(r instRow) []string { return r.ipv6(true) },
		"network-interface.ipv6-addresses.is-primary-ipv6": func(r instRow) []string {
			if len(r.ipv6(false)) == 0 {
				return nil
			}
			return one("false")
		},
		"network-interface.tag-key":   func(r instRow) []string { return r.eniTags(true) },
		"network-interface.tag-value": func(r instRow) []string { return r.eniTags(false) },
	}
	maps.Copy(fm, instDetailFields)
	for _, name := range documentedFilters()["DescribeInstances"] {
		if sub, ok := strings.CutPrefix(name, "network-interface."); ok && fm[name] == nil && eniFields()[sub] != nil {
			fm[name] = viaENIs(sub)
		}
	}
	return fm.documented("DescribeInstances")
})

// ipv6 lists the IPv6 addresses (or /80 prefixes) of the instance's ENIs.
func (r instRow) ipv6(prefixes bool) []string {
	var out []string
	for _, n := range r.in.enis {
		out = append(out, lagged(n, r.now, 0).ipv6List(prefixes)...)
	}
	return out
}

// instDetailFields are the filters on the members writeInstanceDetails
// answers.
var instDetailFields = fields[instRow]{
	"reason":                                                             func(r instRow) []string { return one(r.in.transitionReason(r.now)) },
	"state-reason-code":                                                  func(r instRow) []string { c, _ := r.in.stateReason(r.now); return one(c) },
	"state-reason-message":                                               func(r instRow) []string { _, m := r.in.stateReason(r.now); return one(m) },
	"block-device-mapping.device-name":                                   constant[instRow](rootDevice),
	"block-device-mapping.volume-id":                                     func(r instRow) []string { return one(r.in.rootVolume()) },
	"block-device-mapping.delete-on-termination":                         constant[instRow]("true"),
	"block-device-mapping.attach-time":                                   func(r instRow) []string { return one(ts(r.in.launched)) },
	"block-device-mapping.status":                                        func(r instRow) []string { return one(r.in.rootStatus()) },
	"current-instance-boot-mode":                                         func(r instRow) []string { return one(r.in.bootMode()) },
	"platform-details":                                                   constant[instRow]("Linux/UNIX"),
	"usage-operation":                                                    constant[instRow]("RunInstances"),
	"usage-operation-update-time":                                        func(r instRow) []string { return one(ts(r.in.launched)) },
	"metadata-options.state":                                             constant[instRow]("applied"),
	"metadata-options.http-tokens":                                       constant[instRow]("required"),
	"metadata-options.http-put-response-hop-limit":                       constant[instRow]("2"),
	"metadata-options.http-endpoint":                                     constant[instRow]("enabled"),
	"metadata-options.http-protocol-ipv6":                                constant[instRow]("disabled"),
	"metadata-options.instance-metadata-tags":                            constant[instRow]("disabled"),
	"network-performance-options.bandwidth-weighting":                    constant[instRow]("default"),
	"operator.managed":                                                   constant[instRow]("false"),
	"enclave-options.enabled":                                            constant[instRow]("false"),
	"hibernation-options.configured":                                     constant[instRow]("false"),
	"maintenance-options.auto-recovery":                                  constant[instRow]("default"),
	"capacity-reservation-specification.capacity-reservation-preference": constant[instRow]("open"),
	"private-dns-name-options.hostname-type":                             constant[instRow]("ip-name"),
	"private-dns-name-options.enable-resource-name-dns-a-record":         constant[instRow]("false"),
	"private-dns-name-options.enable-resource-name-dns-aaaa-record":      constant[instRow]("false"),
}

// viaENIs reads an ENI filter over an instance's attached ENIs.
func viaENIs(name string) func(instRow) []string {
	get := eniFields()[name]
	return func(r instRow) []string {
		var out []string
		for _, n := range r.in.enis {
			out = append(out, get(eniRow{r.s, n, lagged(n, r.now, r.s.cfg.DescribeLag)})...)
		}
		return out
	}
}

// whileUp is a value an instance shows until it is terminated.
func (r instRow) whileUp(v string) []string {
	if r.in.state != "running" {
		return nil
	}
	return one(v)
}

func (r instRow) primaryENI(name string) []string {
	for _, n := range r.in.enis {
		if n.device == 0 {
			return eniFields()[name](eniRow{r.s, n, lagged(n, r.now, r.s.cfg.DescribeLag)})
		}
	}
	return nil
}

func (r instRow) eniTags(keys bool) []string {
	var out []string
	for _, n := range r.in.enis {
		for k, v := range n.tags {
			if keys {
				out = append(out, k)
			} else {
				out = append(out, v)
			}
		}
	}
	return out
}

// groupNames returns the names of the groups ids names (unknown ones skipped).
func (st *state) groupNames(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if g, ok := st.sgs[id]; ok {
			out = append(out, g.name)
		}
	}
	return out
}
