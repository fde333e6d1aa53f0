package config

import (
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// AWS_VPC_K8S_CNI_RANDOMIZESNAT values (upstream's typeOfSNAT).
const (
	SNATRandomPRNG = "prng"       // --random-fully (the default)
	SNATRandomHash = "hashrandom" // --random
	SNATSequential = "none"       // no flag
)

// DefaultConnmark is upstream's defaultConnmark: kube-proxy uses 0x4000
// and 0x8000, Calico 0xffff0000.
const DefaultConnmark = 0x80

// snat reads the networkutils settings of the host's SNAT and connmark
// rules as upstream's typeOfSNAT, getConnmark and getBoolEnvVar do: an
// unusable value logs upstream's line and keeps the default.
func (r *envReader) snat(c *Config) {
	r.strVar(EnvExternalServiceCIDRs, &c.ExternalServiceCIDRs)
	for _, v := range [][2]string{{EnvExcludeSNATCIDRs, c.ExcludeSNATCIDRs}, {EnvExternalServiceCIDRs, c.ExternalServiceCIDRs}} {
		// ipamd logs these itself each time it parses the list, as upstream.
		_, errs := ParseCIDRs(v[0], v[1])
		for _, e := range errs {
			r.warn = append(r.warn, Warning{Var: v[0], Msg: e + "; the VPC CNI skips it"})
		}
	}
	nodePort := !c.NodePortSupportDisabled
	r.fallbackBool(EnvNodePortSupport, &nodePort, boolNetworkUtils)
	c.NodePortSupportDisabled = !nodePort
	if v, ok := r.get(EnvRandomizeSNAT); ok {
		switch v {
		case SNATRandomPRNG, SNATRandomHash, SNATSequential:
			c.RandomizeSNAT = v
		default:
			r.warn = append(r.warn, Warning{
				Var: EnvRandomizeSNAT, Msg: fmt.Sprintf("%q is not prng, hashrandom or none; the VPC CNI uses the default, prng", v),
				Log: fmt.Sprintf("Failed to parse %s; using default: %s. Provided string was %q", EnvRandomizeSNAT, SNATRandomPRNG, v), Level: slog.LevelError,
			})
		}
	}
	if v, ok := r.get(EnvConnmark); ok {
		c.Connmark = r.connmark(v)
	}
}

// connmark is upstream's getConnmark: strconv.ParseInt(v, 0, 64), so
// "0x80", "128" and "0200" are all 0x80; unparsable or outside 1..2^32-1
// keeps DefaultConnmark, logged at info.
func (r *envReader) connmark(v string) uint32 {
	mark, err := strconv.ParseInt(v, 0, 64)
	w := Warning{Var: EnvConnmark, Level: slog.LevelInfo}
	switch {
	case err != nil:
		w.Msg = fmt.Sprintf("%q is not an integer; the VPC CNI uses the default, 0x80", v)
		w.Log = fmt.Sprintf("Failed to parse %s; will use %d, error: %v", EnvConnmark, DefaultConnmark, err)
	case mark > math.MaxUint32 || mark <= 0:
		w.Msg = fmt.Sprintf("%q is outside 1..0xffffffff; the VPC CNI uses the default, 0x80", v)
		// Upstream formats its int default with %s; this is what it prints.
		w.Log = EnvConnmark + " out of range; will use %!s(int=128)"
	default:
		return uint32(mark)
	}
	r.warn = append(r.warn, w)
	return DefaultConnmark
}

// ParseCIDRs reads a comma-separated CIDR list as upstream's
// parseCIDRString reads AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS and
// AWS_EXTERNAL_SERVICE_CIDRS: each IPv4 CIDR is kept, masked; anything
// else is dropped with upstream's error line (in errs, for the caller to
// log) naming the variable — an empty item too ("a,,b"), as upstream.
func ParseCIDRs(name, value string) (cidrs []string, errs []string) {
	if value == "" {
		return nil, nil
	}
	for _, c := range strings.Split(value, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		switch {
		case err != nil:
			errs = append(errs, fmt.Sprintf("%v from %s is not a valid CIDR", c, name))
		case !p.Addr().Is4():
			errs = append(errs, fmt.Sprintf("%v from %s is an IPV6 CIDR", c, name))
		default:
			cidrs = append(cidrs, p.Masked().String())
		}
	}
	return cidrs, errs
}

func mustCIDRs(value string) []string {
	cidrs, _ := ParseCIDRs("", value)
	return cidrs
}

// SNATType is upstream's snatType number of a RANDOMIZESNAT value, as its
// GetConfigForDebug shows it: none 0, hashrandom 1, prng 2.
func SNATType(v string) int {
	switch v {
	case SNATSequential:
		return 0
	case SNATRandomHash:
		return 1
	default:
		return 2
	}
}
