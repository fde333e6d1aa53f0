package fakeec2

import (
	"slices"
	"time"
)

// Wire handlers for security group rules (state in sgrules.go).

func (s *Server) authorizeSecurityGroupIngress(p params, x *xw, now time.Time) *Error {
	return s.authorize(p, x, false)
}

func (s *Server) authorizeSecurityGroupEgress(p params, x *xw, now time.Time) *Error {
	return s.authorize(p, x, true)
}

func (s *Server) revokeSecurityGroupIngress(p params, x *xw, now time.Time) *Error {
	return s.revoke(p, x, false)
}

func (s *Server) revokeSecurityGroupEgress(p params, x *xw, now time.Time) *Error {
	return s.revoke(p, x, true)
}

func (s *Server) authorize(p params, x *xw, egress bool) *Error {
	g, rules, e := s.ruleRequest(p, egress)
	if e != nil {
		return e
	}
	if len(rules) == 0 {
		return missingParam("IpPermissions")
	}
	if e := s.st.addRules(g, rules); e != nil {
		return e
	}
	x.ret()
	x.open("securityGroupRuleSet")
	for _, r := range rules {
		s.writeRule(x, g, r)
	}
	x.close("securityGroupRuleSet")
	return nil
}

func (s *Server) revoke(p params, x *xw, egress bool) *Error {
	g, rules, e := s.ruleRequest(p, egress)
	if e != nil {
		return e
	}
	ids := p.list("SecurityGroupRuleId")
	if len(rules) == 0 && len(ids) == 0 {
		return missingParam("IpPermissions or SecurityGroupRuleId")
	}
	revoked, unknown, e := s.st.revokeRules(g, rules, ids)
	if e != nil {
		return e
	}
	x.ret()
	if len(unknown) > 0 {
		x.open("unknownIpPermissionSet")
		for _, r := range unknown {
			s.writePermission(x, "item", []*sgRule{r})
		}
		x.close("unknownIpPermissionSet")
	}
	x.open("revokedSecurityGroupRuleSet")
	for _, r := range revoked {
		s.writeRule(x, g, r)
	}
	x.close("revokedSecurityGroupRuleSet")
	return nil
}

// ruleRequest reads the group a rule request names and its rules: the
// IpPermissions.N list, or the older flat form (IpProtocol, FromPort,
// ToPort, CidrIp, SourceSecurityGroupName).
func (s *Server) ruleRequest(p params, egress bool) (*secGroup, []*sgRule, *Error) {
	g, e := s.ruleGroup(p)
	if e != nil {
		return nil, nil, e
	}
	var rules []*sgRule
	for _, i := range p.indices("IpPermissions") {
		rs, e := s.permission(p, "IpPermissions."+i+".", egress)
		if e != nil {
			return nil, nil, e
		}
		rules = append(rules, rs...)
	}
	if p.get("IpProtocol") != "" || p.get("CidrIp") != "" || p.get("SourceSecurityGroupName") != "" {
		rs, e := s.flatPermission(p, g, egress)
		if e != nil {
			return nil, nil, e
		}
		rules = append(rules, rs...)
	}
	return g, rules, nil
}

// ruleGroup is the group by GroupId, or by GroupName in no VPC (EC2-Classic
// and default-VPC names; this EC2 has neither, so a name must be unique).
func (s *Server) ruleGroup(p params) (*secGroup, *Error) {
	if id := p.get("GroupId"); id != "" {
		g, ok := s.st.sgs[id]
		if !ok {
			return nil, groupNotFound(id)
		}
		return g, nil
	}
	name := p.get("GroupName")
	if name == "" {
		return nil, missingParam("GroupId")
	}
	for _, g := range s.st.sgs {
		if g.name == name {
			return g, nil
		}
	}
	return nil, errCode("InvalidGroup.NotFound", 400, "The security group '%s' does not exist in default VPC", truncate(name, 64))
}

// permission reads one IpPermissions.N entry (prefix ends in a dot): one
// rule per IPv4 range, IPv6 range and group it names.
func (s *Server) permission(p params, prefix string, egress bool) ([]*sgRule, *Error) {
	base, e := portsAndProto(p, prefix)
	if e != nil {
		return nil, e
	}
	base.egress = egress
	var rules []*sgRule
	add := func(set func(r *sgRule)) {
		r := *base
		set(&r)
		rules = append(rules, &r)
	}
	for _, j := range p.indices(prefix + "IpRanges") {
		q, e := parseCIDR("CidrIp", p.get(prefix+"IpRanges."+j+".CidrIp"))
		if e != nil {
			return nil, e
		}
		desc := p.get(prefix + "IpRanges." + j + ".Description")
		add(func(r *sgRule) { r.cidr, r.desc = q, desc })
	}
	for _, j := range p.indices(prefix + "Ipv6Ranges") {
		q, e := parseIPv6CIDR("CidrIpv6", p.get(prefix+"Ipv6Ranges."+j+".CidrIpv6"))
		if e != nil {
			return nil, e
		}
		desc := p.get(prefix + "Ipv6Ranges." + j + ".Description")
		add(func(r *sgRule) { r.cidr, r.desc = q, desc })
	}
	for _, j := range p.indices(prefix + "Groups") {
		id := p.get(prefix + "Groups." + j + ".GroupId")
		if id == "" {
			return nil, missingParam(prefix + "Groups." + j + ".GroupId")
		}
		desc := p.get(prefix + "Groups." + j + ".Description")
		add(func(r *sgRule) { r.group, r.desc = id, desc })
	}
	if len(p.indices(prefix+"PrefixListIds")) > 0 {
		return nil, invalidParam("Prefix lists are not supported by this EC2.")
	}
	if len(rules) == 0 {
		return nil, missingParam(prefix + "IpRanges, Ipv6Ranges or Groups")
	}
	return rules, nil
}

// flatPermission reads the older single-rule form of a request.
func (s *Server) flatPermission(p params, g *secGroup, egress bool) ([]*sgRule, *Error) {
	r, e := portsAndProto(p, "")
	if e != nil {
		return nil, e
	}
	r.egress = egress
	switch c, name := p.get("CidrIp"), p.get("SourceSecurityGroupName"); {
	case c != "":
		if r.cidr, e = parseCIDR("CidrIp", c); e != nil {
			return nil, e
		}
	case name != "":
		for _, peer := range s.st.sgs {
			if peer.name == name && peer.vpcID == g.vpcID {
				r.group = peer.id
			}
		}
		if r.group == "" {
			return nil, errCode("InvalidGroup.NotFound", 400, "The security group '%s' does not exist", truncate(name, 64))
		}
	default:
		return nil, missingParam("CidrIp")
	}
	return []*sgRule{r}, nil
}

// portsAndProto reads prefix+IpProtocol, FromPort and ToPort.
func portsAndProto(p params, prefix string) (*sgRule, *Error) {
	proto, e := normProtocol(p.get(prefix + "IpProtocol"))
	if e != nil {
		return nil, e
	}
	from, haveFrom, e := p.integer(prefix+"FromPort", -1, 65535)
	if e != nil {
		return nil, e
	}
	to, haveTo, e := p.integer(prefix+"ToPort", -1, 65535)
	if e != nil {
		return nil, e
	}
	from, to, e = checkPorts(proto, from, to, haveFrom, haveTo)
	if e != nil {
		return nil, e
	}
	return &sgRule{proto: proto, from: from, to: to}, nil
}

// writeRule writes one rule as a SecurityGroupRule item.
func (s *Server) writeRule(x *xw, g *secGroup, r *sgRule) {
	x.open("item")
	x.el("securityGroupRuleId", r.id)
	x.el("groupId", g.id)
	x.el("groupOwnerId", s.cfg.AccountID)
	x.elBool("isEgress", r.egress)
	x.el("ipProtocol", r.proto)
	x.elInt("fromPort", r.from)
	x.elInt("toPort", r.to)
	switch {
	case r.cidr.IsValid() && r.cidr.Addr().Is4():
		x.el("cidrIpv4", r.cidr.String())
	case r.cidr.IsValid():
		x.el("cidrIpv6", r.cidr.String())
	default:
		x.raw("<referencedGroupInfo><groupId>" + r.group + "</groupId><userId>" + s.cfg.AccountID + "</userId></referencedGroupInfo>")
	}
	if r.desc != "" {
		x.el("description", r.desc)
	}
	x.close("item")
}

// writePermissions writes a group's rules of one direction as EC2's
// IpPermission list: one permission per protocol and port range, with its
// peers.
func (s *Server) writePermissions(x *xw, tag string, g *secGroup, egress bool) {
	var keys []*sgRule
	byKey := map[[3]any][]*sgRule{}
	for _, r := range g.rules {
		if r.egress != egress {
			continue
		}
		k := [3]any{r.proto, r.from, r.to}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, r)
		}
		byKey[k] = append(byKey[k], r)
	}
	if len(keys) == 0 {
		x.raw("<" + tag + "/>")
		return
	}
	x.open(tag)
	for _, k := range keys {
		s.writePermission(x, "item", byKey[[3]any{k.proto, k.from, k.to}])
	}
	x.close(tag)
}

// writePermission writes rules sharing protocol and ports as one
// IpPermission.
func (s *Server) writePermission(x *xw, tag string, rules []*sgRule) {
	r0 := rules[0]
	x.open(tag)
	x.el("ipProtocol", r0.proto)
	if r0.proto != "-1" {
		x.elInt("fromPort", r0.from)
		x.elInt("toPort", r0.to)
	}
	peers := func(tag string, keep func(*sgRule) bool, write func(*sgRule)) {
		i := slices.IndexFunc(rules, keep)
		if i < 0 {
			x.raw("<" + tag + "/>")
			return
		}
		x.open(tag)
		for _, r := range rules {
			if keep(r) {
				x.open("item")
				write(r)
				if r.desc != "" {
					x.el("description", r.desc)
				}
				x.close("item")
			}
		}
		x.close(tag)
	}
	peers("groups", func(r *sgRule) bool { return r.group != "" }, func(r *sgRule) {
		x.el("userId", s.cfg.AccountID)
		x.el("groupId", r.group)
	})
	peers("ipRanges", func(r *sgRule) bool { return r.cidr.IsValid() && r.cidr.Addr().Is4() }, func(r *sgRule) {
		x.el("cidrIp", r.cidr.String())
	})
	peers("ipv6Ranges", func(r *sgRule) bool { return r.cidr.IsValid() && r.cidr.Addr().Is6() }, func(r *sgRule) {
		x.el("cidrIpv6", r.cidr.String())
	})
	x.raw("<prefixListIds/>")
	x.close(tag)
}

// ruleValues lists, for the rules of one direction, what a permission
// filter compares: the protocol, ports, peers.
func ruleValues(g *secGroup, egress bool, get func(*sgRule) string) []string {
	var out []string
	for _, r := range g.rules {
		if r.egress == egress {
			if v := get(r); v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

func cidrOf(v4 bool) func(*sgRule) string {
	return func(r *sgRule) string {
		if r.cidr.IsValid() && r.cidr.Addr().Is4() == v4 {
			return r.cidr.String()
		}
		return ""
	}
}
