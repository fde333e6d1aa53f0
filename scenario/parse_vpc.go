package scenario

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

func (p *parser) vpc(n *yaml.Node) {
	f := p.fields(n, "vpc", []string{"cidr", "secondaryCidrs", "subnets", "reservations", "ipv6"})
	if f == nil {
		return
	}
	v := &p.sc.VPC
	if c := f["ipv6"]; c != nil {
		v.IPv6, _ = p.flag(c, "vpc.ipv6")
	}
	if c := f["cidr"]; c != nil {
		if pfx, ok := p.prefix(c, "vpc.cidr"); ok {
			if pfx.Bits() < 16 || pfx.Bits() > 28 {
				p.add(c, "vpc.cidr", "a VPC CIDR must be between /16 and /28, got /%d", pfx.Bits())
			} else {
				v.CIDR = pfx
			}
		}
	} else {
		p.add(n, "vpc.cidr", "missing")
	}
	if c := f["secondaryCidrs"]; c != nil {
		for i, e := range p.list(c, "vpc.secondaryCidrs", "CIDRs") {
			p.secondaryCIDR(e, index("vpc.secondaryCidrs", i))
		}
	}
	if c := f["subnets"]; c != nil {
		for i, e := range p.list(c, "vpc.subnets", "subnets") {
			p.subnet(e, index("vpc.subnets", i))
		}
	}
	if len(v.Subnets) == 0 && (f["subnets"] == nil || len(resolve(f["subnets"]).Content) == 0) {
		p.add(n, "vpc.subnets", "missing: the VPC needs at least one subnet")
	}
	if c := f["reservations"]; c != nil {
		for i, e := range p.list(c, "vpc.reservations", "reservations") {
			p.reservation(e, index("vpc.reservations", i))
		}
	}
}

// secondaryCIDR reads one of vpc.secondaryCidrs: a VPC-sized block that
// overlaps none before it.
func (p *parser) secondaryCIDR(e *yaml.Node, path string) {
	v := &p.sc.VPC
	pfx, ok := p.prefix(e, path)
	if !ok {
		return
	}
	if pfx.Bits() < 16 || pfx.Bits() > 28 {
		p.add(e, path, "a VPC CIDR must be between /16 and /28, got /%d", pfx.Bits())
		return
	}
	clash := false
	for _, o := range append([]netip.Prefix{v.CIDR}, v.SecondaryCIDRs...) {
		if o.IsValid() && o.Overlaps(pfx) {
			p.add(e, path, "%s overlaps the VPC's %s", pfx, o)
			clash = true
		}
	}
	if !clash {
		v.SecondaryCIDRs = append(v.SecondaryCIDRs, pfx)
	}
}

var (
	subnetIDRe = regexp.MustCompile(`^subnet-[a-z0-9-]+$`)
	azRe       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d[a-z]$`)
)

func (p *parser) subnet(n *yaml.Node, path string) {
	f := p.fields(n, path, []string{"id", "cidr", "az", "tags", "public", "natGateway"})
	if f == nil {
		return
	}
	s := Subnet{AZ: "us-west-2a"}
	ok := true
	if c := f["id"]; c != nil {
		id, good := p.str(c, join(path, "id"))
		switch {
		case !good:
			ok = false
		case !subnetIDRe.MatchString(id):
			p.add(c, join(path, "id"), "bad subnet id %q: want subnet-<lowercase letters, digits, dashes>", id)
			ok = false
		case p.subnets[id].ID != "":
			p.add(c, join(path, "id"), "subnet %q is defined twice", id)
			ok = false
		}
		s.ID = id
	} else {
		p.add(n, join(path, "id"), "missing")
		ok = false
	}
	if c := f["cidr"]; c != nil {
		pfx, good := p.prefix(c, join(path, "cidr"))
		if good {
			s.CIDR = pfx
			ok = p.subnetCIDR(c, join(path, "cidr"), pfx) && ok
		} else {
			ok = false
		}
	} else {
		p.add(n, join(path, "cidr"), "missing")
		ok = false
	}
	if c := f["az"]; c != nil {
		if az, good := p.str(c, join(path, "az")); good {
			if !azRe.MatchString(az) {
				p.add(c, join(path, "az"), "bad availability zone %q: want e.g. us-west-2a", az)
			}
			s.AZ = az
		}
	}
	if c := f["tags"]; c != nil {
		s.Tags = p.strMap(c, join(path, "tags"))
	}
	ok = p.subnetEgress(f, path, &s) && ok
	if s.ID != "" {
		// Registered even when partly wrong, so references to it do not
		// add a second, misleading problem.
		p.subnets[s.ID] = s
	}
	if ok {
		p.sc.VPC.Subnets = append(p.sc.VPC.Subnets, s)
	}
}

func (p *parser) subnetCIDR(n *yaml.Node, path string, pfx netip.Prefix) bool {
	v := p.sc.VPC
	if pfx.Bits() < 16 || pfx.Bits() > 28 {
		p.add(n, path, "a subnet must be between /16 and /28, got /%d", pfx.Bits())
		return false
	}
	if v.CIDR.IsValid() {
		inside := false
		for _, o := range append([]netip.Prefix{v.CIDR}, v.SecondaryCIDRs...) {
			if o.Bits() <= pfx.Bits() && o.Contains(pfx.Addr()) {
				inside = true
			}
		}
		if !inside {
			all := []string{v.CIDR.String()}
			for _, o := range v.SecondaryCIDRs {
				all = append(all, o.String())
			}
			p.add(n, path, "subnet %s is outside the VPC (%s)", pfx, strings.Join(all, ", "))
			return false
		}
	}
	for _, o := range v.Subnets {
		if o.CIDR.Overlaps(pfx) {
			p.add(n, path, "subnet %s overlaps %s (%s)", pfx, o.ID, o.CIDR)
			return false
		}
	}
	return true
}

func (p *parser) subnetRef(n *yaml.Node, path string) (Subnet, bool) {
	id, ok := p.str(n, path)
	if !ok {
		return Subnet{}, false
	}
	s, found := p.subnets[id]
	if !found {
		msg := fmt.Sprintf("unknown subnet %q", id)
		if sg := suggest(id, slices.Sorted(maps.Keys(p.subnets))); sg != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sg)
		} else if len(p.subnets) > 0 {
			msg += " (defined: " + strings.Join(slices.Sorted(maps.Keys(p.subnets)), ", ") + ")"
		}
		p.add(n, path, "%s", msg)
		return Subnet{}, false
	}
	return s, true
}

// subnetField reads the required `subnet` of the mapping n (fields f): a
// reservation, an ENIConfig and a node each name the subnet they live in.
func (p *parser) subnetField(f map[string]*yaml.Node, n *yaml.Node, path string) (Subnet, bool) {
	v := f["subnet"]
	if v == nil {
		p.add(n, join(path, "subnet"), "missing")
		return Subnet{}, false
	}
	return p.subnetRef(v, join(path, "subnet"))
}

func (p *parser) reservation(n *yaml.Node, path string) {
	f := p.fields(n, path, []string{"subnet", "cidr", "type"})
	if f == nil {
		return
	}
	r := Reservation{}
	ok := true
	var sub Subnet
	sub, ok = p.subnetField(f, n, path)
	r.Subnet = sub.ID
	if c := f["cidr"]; c != nil {
		pfx, good := p.prefix(c, join(path, "cidr"))
		if good && sub.CIDR.IsValid() && !(sub.CIDR.Bits() <= pfx.Bits() && sub.CIDR.Contains(pfx.Addr())) {
			p.add(c, join(path, "cidr"), "reservation %s is outside subnet %s (%s)", pfx, sub.ID, sub.CIDR)
			good = false
		}
		r.CIDR = pfx
		ok = ok && good
	} else {
		p.add(n, join(path, "cidr"), "missing")
		ok = false
	}
	if c := f["type"]; c != nil {
		t, good := p.str(c, join(path, "type"))
		if good && t != "prefix" && t != "explicit" {
			p.add(c, join(path, "type"), "want prefix or explicit, got %q", t)
			good = false
		}
		r.Type = t
		ok = ok && good
	} else {
		p.add(n, join(path, "type"), "missing (prefix or explicit)")
		ok = false
	}
	if ok {
		p.sc.VPC.Reservations = append(p.sc.VPC.Reservations, r)
	}
}
