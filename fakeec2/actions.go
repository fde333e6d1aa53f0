package fakeec2

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"CreateVpc":                          (*Server).createVpc,
		"DescribeVpcs":                       (*Server).describeVpcs,
		"AssociateVpcCidrBlock":              (*Server).associateVpcCidrBlock,
		"CreateSubnet":                       (*Server).createSubnet,
		"DescribeSubnets":                    (*Server).describeSubnets,
		"CreateSubnetCidrReservation":        (*Server).createSubnetCidrReservation,
		"GetSubnetCidrReservations":          (*Server).getSubnetCidrReservations,
		"CreateSecurityGroup":                (*Server).createSecurityGroup,
		"DescribeSecurityGroups":             (*Server).describeSecurityGroups,
		"RunInstances":                       (*Server).runInstances,
		"TerminateInstances":                 (*Server).terminateInstances,
		"DescribeInstances":                  (*Server).describeInstances,
		"DescribeInstanceTypes":              (*Server).describeInstanceTypes,
		"CreateNetworkInterface":             (*Server).createNetworkInterface,
		"DeleteNetworkInterface":             (*Server).deleteNetworkInterface,
		"AttachNetworkInterface":             (*Server).attachNetworkInterface,
		"DetachNetworkInterface":             (*Server).detachNetworkInterface,
		"DescribeNetworkInterfaces":          (*Server).describeNetworkInterfaces,
		"ModifyNetworkInterfaceAttribute":    (*Server).modifyNetworkInterfaceAttribute,
		"AssignPrivateIpAddresses":           (*Server).assignPrivateIpAddresses,
		"UnassignPrivateIpAddresses":         (*Server).unassignPrivateIpAddresses,
		"CreateTags":                         (*Server).createTags,
		"DeleteTags":                         (*Server).deleteTags,
		"DescribeAvailabilityZones":          (*Server).describeAvailabilityZones,
		"DescribeNetworkInterfaceAttribute":  (*Server).describeNetworkInterfaceAttribute,
		"DeleteSubnetCidrReservation":        (*Server).deleteSubnetCidrReservation,
		"DeleteSubnet":                       (*Server).deleteSubnet,
		"DeleteVpc":                          (*Server).deleteVpc,
		"DeleteSecurityGroup":                (*Server).deleteSecurityGroup,
		"AssociateSubnetCidrBlock":           (*Server).associateSubnetCidrBlock,
		"AssociateTrunkInterface":            (*Server).associateTrunkInterface,
		"DisassociateTrunkInterface":         (*Server).disassociateTrunkInterface,
		"DescribeTrunkInterfaceAssociations": (*Server).describeTrunkInterfaceAssociations,
		"AuthorizeSecurityGroupIngress":      (*Server).authorizeSecurityGroupIngress,
		"AuthorizeSecurityGroupEgress":       (*Server).authorizeSecurityGroupEgress,
		"RevokeSecurityGroupIngress":         (*Server).revokeSecurityGroupIngress,
		"RevokeSecurityGroupEgress":          (*Server).revokeSecurityGroupEgress,
		"AssignIpv6Addresses":                (*Server).assignIpv6Addresses,
		"UnassignIpv6Addresses":              (*Server).unassignIpv6Addresses,
	}
}

// Actions returns the EC2 actions the server implements, sorted.
func Actions() []string {
	return slices.Sorted(maps.Keys(handlers))
}

// ---- shared helpers ----

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func visible(at, now time.Time, lag time.Duration) bool {
	return lag <= 0 || at.IsZero() || !now.Before(at.Add(lag))
}

// match reports whether s matches an EC2 filter value with * and ?
// wildcards (backslash escapes them).
func match(pattern, s string) bool {
	if !strings.ContainsAny(pattern, `*?\`) {
		return pattern == s
	}
	p, str := []rune(pattern), []rune(s)
	var pi, si, star, mark = 0, 0, -1, 0
	for si < len(str) {
		if pi < len(p) {
			c, lit := p[pi], false
			if c == '\\' && pi+1 < len(p) {
				pi++
				c, lit = p[pi], true
			}
			switch {
			case c == '*' && !lit:
				star, mark = pi, si
				pi++
				continue
			case (c == '?' && !lit) || c == str[si]:
				pi++
				si++
				continue
			}
			if lit {
				pi--
			}
		}
		if star >= 0 {
			pi = star + 1
			mark++
			si = mark
			continue
		}
		return false
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func anyMatch(values []string, s string) bool {
	for _, v := range values {
		if match(v, s) {
			return true
		}
	}
	return false
}

// tagFilter handles tag:<k>, tag-key and tag-value; ok is false when the
// filter is not a tag filter.
func tagFilter(f filter, tags map[string]string) (matched, ok bool) {
	switch {
	case strings.HasPrefix(f.name, "tag:"):
		v, has := tags[f.name[4:]]
		return has && anyMatch(f.values, v), true
	case f.name == "tag-key":
		for k := range tags {
			if anyMatch(f.values, k) {
				return true, true
			}
		}
		return false, true
	case f.name == "tag-value":
		for _, v := range tags {
			if anyMatch(f.values, v) {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

func badFilter(name string) *Error {
	return invalidParam("The filter '%s' is invalid", truncate(name, 64))
}

func checkFilters(fs []filter, known ...string) *Error {
	for _, f := range fs {
		if strings.HasPrefix(f.name, "tag:") || f.name == "tag-key" || f.name == "tag-value" {
			continue
		}
		if !slices.Contains(known, f.name) {
			return badFilter(f.name)
		}
	}
	return nil
}

func encodeToken(kind string, n uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + "/" + strconv.FormatUint(n, 10)))
}

func decodeToken(kind, tok string) (uint64, *Error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(raw), kind+"/"); ok {
			if n, err := strconv.ParseUint(rest, 10, 64); err == nil {
				return n, nil
			}
		}
	}
	return 0, errCode("InvalidNextToken", 400, "The token '%s' is invalid.", truncate(tok, 64))
}

// paging reads MaxResults/NextToken; ids says whether explicit ids were
// given, which EC2 does not allow together with MaxResults.
func (p params) paging(kind string, lo, hi int, ids bool) (max int, after uint64, e *Error) {
	m, set, e := p.integer("MaxResults", lo, hi)
	if e != nil {
		return 0, 0, e
	}
	if set && ids {
		return 0, 0, errCode("InvalidParameterCombination", 400, "The parameter MaxResults cannot be used with the parameter of resource IDs.")
	}
	if tok := p.get("NextToken"); tok != "" {
		after, e = decodeToken(kind, tok)
		if e != nil {
			return 0, 0, e
		}
	}
	if !set {
		m = 0
	}
	return m, after, nil
}

func (st *state) azID(az string) string {
	short := ""
	for i, part := range strings.Split(st.region, "-") {
		if i == 0 || len(part) == 0 {
			short += part
		} else if part[0] >= '0' && part[0] <= '9' {
			short += part
		} else {
			short += part[:1]
		}
	}
	n := 1
	if az != "" {
		last := az[len(az)-1]
		if last >= 'a' && last <= 'z' {
			n = int(last-'a') + 1
		}
	}
	return fmt.Sprintf("%s-az%d", short, n)
}

func (st *state) dnsName(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return "ip-" + strings.ReplaceAll(a.String(), ".", "-") + "." + st.region + ".compute.internal"
}
