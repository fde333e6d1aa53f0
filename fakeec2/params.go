package fakeec2

import (
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// params reads the flattened EC2 Query parameters (Key.N, Key.N.Sub).
type params struct{ v url.Values }

func (p params) get(name string) string { return p.v.Get(name) }

func (p params) required(name string) (string, *Error) {
	s := p.v.Get(name)
	if s == "" {
		return "", missingParam(name)
	}
	return s, nil
}

// integer parses an optional integer in [lo, hi]; huge or malformed numbers
// are InvalidParameterValue.
func (p params) integer(name string, lo, hi int) (int, bool, *Error) {
	s, ok := p.v[name]
	if !ok || len(s) == 0 || s[0] == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s[0], 10, 32)
	if err != nil {
		return 0, true, invalidParam("Value (%s) for parameter %s is invalid. Expected an integer.", truncate(s[0], 32), name)
	}
	if int(n) < lo || int(n) > hi {
		return 0, true, invalidParam("Value (%d) for parameter %s is invalid. Expected a value between %d and %d.", n, name, lo, hi)
	}
	return int(n), true, nil
}

func (p params) boolean(name string) (bool, *Error) {
	s := p.v.Get(name)
	switch strings.ToLower(s) {
	case "":
		return false, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalidParam("Value (%s) for parameter %s is invalid. Expected 'true' or 'false'.", truncate(s, 32), name)
}

// indices returns the N of every "prefix.N" or "prefix.N.…" key, in numeric
// order, as the exact strings the client sent.
func (p params) indices(prefix string) []string {
	pre := prefix + "."
	seen := map[string]int{}
	for k := range p.v {
		if !strings.HasPrefix(k, pre) {
			continue
		}
		rest := k[len(pre):]
		idx, _, _ := strings.Cut(rest, ".")
		if _, ok := seen[idx]; ok {
			continue
		}
		n, err := strconv.Atoi(idx)
		if err != nil || n < 1 {
			continue
		}
		seen[idx] = n
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return seen[out[i]] < seen[out[j]] })
	return out
}

// list returns the values of prefix.1, prefix.2, … (empty ones skipped).
func (p params) list(prefix string) []string {
	var out []string
	for _, i := range p.indices(prefix) {
		if v := p.v.Get(prefix + "." + i); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (p params) addrList(prefix string) ([]netip.Addr, *Error) {
	var out []netip.Addr
	for _, s := range p.list(prefix) {
		a, e := parseIPv4(prefix, s)
		if e != nil {
			return nil, e
		}
		out = append(out, a)
	}
	return out, nil
}

func (p params) prefixList(prefix string, sub string) ([]netip.Prefix, *Error) {
	var raw []string
	if sub == "" {
		raw = p.list(prefix)
	} else {
		for _, i := range p.indices(prefix) {
			if v := p.v.Get(prefix + "." + i + "." + sub); v != "" {
				raw = append(raw, v)
			}
		}
	}
	var out []netip.Prefix
	for _, s := range raw {
		q, e := parseCIDR(prefix, s)
		if e != nil {
			return nil, e
		}
		out = append(out, q)
	}
	return out, nil
}

type filter struct {
	name   string
	values []string
}

// EC2's caps on filters: they bound the work one Describe can ask for.
const (
	maxFilters      = 50
	maxFilterValues = 200
)

// filters parses Filter.N and refuses a name outside known (tag filters are
// always allowed), as EC2 refuses unknown filter names.
func (p params) filters(known ...string) ([]filter, *Error) {
	var out []filter
	idx := p.indices("Filter")
	if len(idx) > maxFilters {
		return nil, invalidParam("The maximum number of filters specified on a single call is %d; %d were given.", maxFilters, len(idx))
	}
	for _, i := range idx {
		base := "Filter." + i
		name := p.v.Get(base + ".Name")
		if name == "" {
			return nil, missingParam(base + ".Name")
		}
		vals := p.list(base + ".Value")
		if len(vals) > maxFilterValues {
			return nil, invalidParam("The maximum number of filter values specified on a single call is %d.", maxFilterValues)
		}
		out = append(out, filter{name: name, values: vals})
	}
	if e := checkFilters(out, known...); e != nil {
		return nil, e
	}
	return out, nil
}

// tagSpecs returns the tags the TagSpecifications give resource type rt.
// Specifications for the types in others are accepted and skipped
// (RunInstances tags its instances and their ENIs in one request); any
// other type is refused, as EC2 does.
func (p params) tagSpecs(rt string, others ...string) (map[string]string, *Error) {
	tags := map[string]string{}
	for _, i := range p.indices("TagSpecification") {
		base := "TagSpecification." + i
		t := p.v.Get(base + ".ResourceType")
		if t != rt && !slices.Contains(others, t) {
			return nil, invalidParam("'%s' is not a valid taggable resource type for this operation.", truncate(t, 64))
		}
		if t != rt {
			continue
		}
		got, e := p.tags(base + ".Tag")
		if e != nil {
			return nil, e
		}
		maps.Copy(tags, got)
	}
	return tags, nil
}

func (p params) tags(prefix string) (map[string]string, *Error) {
	out := map[string]string{}
	for _, i := range p.indices(prefix) {
		base := prefix + "." + i
		k := p.v.Get(base + ".Key")
		if k == "" {
			return nil, missingParam(base + ".Key")
		}
		if len(k) > 128 || len(p.v.Get(base+".Value")) > 256 {
			return nil, invalidParam("Tag %s is too long (keys up to 128, values up to 256 characters).", truncate(k, 32))
		}
		out[k] = p.v.Get(base + ".Value")
	}
	if len(out) > 50 {
		return nil, errCode("TagLimitExceeded", 400, "The maximum number of tags per resource is 50.")
	}
	return out, nil
}

// ---- parsing of values shared by the wire and the Go API ----

func parseCIDR(name, s string) (netip.Prefix, *Error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, invalidParam("Value (%s) for parameter %s is invalid. This is not a valid IPv4 CIDR block.", s, name)
	}
	if p.Masked() != p {
		return netip.Prefix{}, invalidParam("Value (%s) for parameter %s is invalid. The CIDR is not aligned to its prefix length (did you mean %s?).", s, name, p.Masked())
	}
	return p, nil
}

func parseIPv4(name, s string) (netip.Addr, *Error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, invalidParam("Value (%s) for parameter %s is invalid. This is not a valid IPv4 address.", s, name)
	}
	return a, nil
}
