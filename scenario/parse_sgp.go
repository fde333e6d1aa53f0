package scenario

import (
	"errors"
	"net/netip"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

var errNoSecurityGroups = errors.New("this lab cannot play security groups for pods (securityGroups and securityGroupPolicies need the node lab)")

// sgProtocols are the protocols a rule of the file names.
var sgProtocols = []string{"tcp", "udp", "icmp", "all"}

func (p *parser) securityGroupList(n *yaml.Node) {
	seen := map[string]bool{}
	for i, e := range p.list(n, "securityGroups", "security groups") {
		path := index("securityGroups", i)
		f := p.fields(e, path, []string{"name", "ingress", "egress"})
		if f == nil {
			continue
		}
		g := SecurityGroup{}
		ok := true
		if v := f["name"]; v == nil {
			p.add(e, join(path, "name"), "missing")
			ok = false
		} else if g.Name, ok = p.str(v, join(path, "name")); ok && seen[g.Name] {
			p.add(v, join(path, "name"), "security group %q is defined twice", g.Name)
			ok = false
		}
		seen[g.Name] = true
		for _, dir := range []string{"ingress", "egress"} {
			v := f[dir]
			if v == nil {
				continue
			}
			for j, r := range p.list(v, join(path, dir), "rules") {
				rule, good := p.sgRule(r, index(join(path, dir), j))
				ok = ok && good
				if dir == "ingress" {
					g.Ingress = append(g.Ingress, rule)
				} else {
					g.Egress = append(g.Egress, rule)
				}
			}
		}
		if ok {
			p.sc.SecurityGroups = append(p.sc.SecurityGroups, g)
		}
	}
}

// sgRule reads {protocol, port | fromPort+toPort, cidr | group}.
func (p *parser) sgRule(e *yaml.Node, path string) (SGRule, bool) {
	r := SGRule{Protocol: "all", FromPort: -1, ToPort: -1}
	f := p.fields(e, path, []string{"protocol", "port", "fromPort", "toPort", "cidr", "group"})
	if f == nil {
		return r, false
	}
	ok := true
	if v := f["protocol"]; v != nil {
		var good bool
		r.Protocol, good = p.str(v, join(path, "protocol"))
		r.Protocol = strings.ToLower(r.Protocol)
		if good && !slices.Contains(sgProtocols, r.Protocol) {
			p.add(v, join(path, "protocol"), "unknown protocol %q: want %s", r.Protocol, strings.Join(sgProtocols, ", "))
			good = false
		}
		ok = good
	}
	for key, dst := range map[string]*int{"port": &r.FromPort, "fromPort": &r.FromPort, "toPort": &r.ToPort} {
		if v := f[key]; v != nil {
			n, good := p.count(v, join(path, key), 0)
			if good && n > 65535 {
				p.add(v, join(path, key), "a port is at most 65535, got %d", n)
				good = false
			}
			*dst, ok = n, ok && good
		}
	}
	if f["port"] != nil {
		r.ToPort = r.FromPort
	}
	if (r.Protocol == "tcp" || r.Protocol == "udp") && r.FromPort < 0 {
		r.FromPort, r.ToPort = 0, 65535
	}
	cidr, group := f["cidr"], f["group"]
	switch {
	case (cidr == nil) == (group == nil):
		p.add(e, path, "want exactly one of cidr and group")
		ok = false
	case cidr != nil:
		var good bool
		r.CIDR, good = p.str(cidr, join(path, "cidr"))
		if _, err := netip.ParsePrefix(r.CIDR); good && err != nil {
			p.add(cidr, join(path, "cidr"), "bad CIDR %q: want an IPv4 prefix such as 10.0.0.0/16", r.CIDR)
			good = false
		}
		ok = ok && good
	default:
		var good bool
		r.Group, good = p.str(group, join(path, "group"))
		ok = ok && good
	}
	return r, ok
}

func (p *parser) securityGroupPolicies(n *yaml.Node) {
	for i, e := range p.list(n, "securityGroupPolicies", "SecurityGroupPolicies") {
		path := index("securityGroupPolicies", i)
		f := p.fields(e, path, []string{"name", "podSelector", "securityGroups"})
		if f == nil {
			continue
		}
		sp := SecurityGroupPolicy{}
		ok := true
		if v := f["name"]; v == nil {
			p.add(e, join(path, "name"), "missing")
			ok = false
		} else {
			sp.Name, ok = p.str(v, join(path, "name"))
		}
		if v := f["podSelector"]; v != nil {
			sp.PodSelector = p.strMap(v, join(path, "podSelector"))
		}
		if v := f["securityGroups"]; v == nil {
			p.add(e, join(path, "securityGroups"), "missing: a policy names at least one security group")
			ok = false
		} else {
			for j, x := range p.list(v, join(path, "securityGroups"), "security group names or ids") {
				s, good := p.str(x, index(join(path, "securityGroups"), j))
				ok = ok && good
				sp.SecurityGroups = append(sp.SecurityGroups, s)
			}
		}
		if ok {
			p.sc.SecurityGroupPolicies = append(p.sc.SecurityGroupPolicies, sp)
		}
	}
}

func (p *parser) isHost(name string) bool {
	return slices.ContainsFunc(p.sc.Hosts, func(h Host) bool { return h.Name == name })
}

func (p *parser) hosts(n *yaml.Node) {
	for i, e := range p.list(n, "hosts", "hosts") {
		path := index("hosts", i)
		f := p.fields(e, path, []string{"name", "subnet", "securityGroups", "port"})
		if f == nil {
			continue
		}
		h := Host{}
		ok := true
		if v := f["name"]; v == nil {
			p.add(e, join(path, "name"), "missing")
			ok = false
		} else if h.Name, ok = p.str(v, join(path, "name")); ok && (h.Name == Internet || p.isHost(h.Name)) {
			p.add(v, join(path, "name"), "host name %q is taken", h.Name)
			ok = false
		}
		s, good := p.subnetField(f, e, path)
		h.Subnet, ok = s.ID, ok && good
		if v := f["port"]; v == nil {
			p.add(e, join(path, "port"), "missing: the TCP port the host has open")
			ok = false
		} else {
			var good bool
			h.Port, good = p.count(v, join(path, "port"), 1)
			if good && h.Port > 65535 {
				p.add(v, join(path, "port"), "a port is at most 65535, got %d", h.Port)
				good = false
			}
			ok = ok && good
		}
		if v := f["securityGroups"]; v != nil {
			for j, x := range p.list(v, join(path, "securityGroups"), "security group names or ids") {
				g, good := p.str(x, index(join(path, "securityGroups"), j))
				ok = ok && good
				h.SecurityGroups = append(h.SecurityGroups, g)
			}
		}
		if ok {
			p.sc.Hosts = append(p.sc.Hosts, h)
		}
	}
}
