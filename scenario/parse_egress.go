package scenario

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The egress keys: subnets' public and natGateway, the curl step, ping to
// the internet and the egressSource expect.

// subnetEgress reads a subnet's public and natGateway flags.
func (p *parser) subnetEgress(f map[string]*yaml.Node, path string, s *Subnet) bool {
	ok := true
	for _, k := range []string{"public", "natGateway"} {
		x := f[k]
		if x == nil {
			continue
		}
		v, good := p.flag(x, join(path, k))
		ok = ok && good
		if k == "public" {
			s.Public = v
		} else {
			s.NATGateway = v
		}
	}
	if s.Public && s.NATGateway {
		p.add(f["natGateway"], join(path, "natGateway"), "a subnet is public or has a NAT gateway, not both: its one default route goes to the internet gateway or to the NAT gateway")
		ok = false
	}
	return ok
}

// flag reads true or false.
func (p *parser) flag(n *yaml.Node, path string) (bool, bool) {
	s, ok := p.scalar(n, path, "true or false")
	if !ok {
		return false, false
	}
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	p.add(n, path, "want true or false, got %q", s)
	return false, false
}

// checkEgress checks the subnets together: a NAT gateway sits in a public
// subnet, as on AWS.
func (p *parser) checkEgress(at *yaml.Node) {
	nat, public := false, false
	for _, s := range p.sc.VPC.Subnets {
		nat = nat || s.NATGateway
		public = public || s.Public
	}
	if nat && !public {
		p.add(at, "vpc.subnets", "natGateway needs a public subnet (public: true) for the NAT gateway to sit in, as on AWS")
	}
}

// needInternet checks that traffic to the internet has a way out.
func (p *parser) needInternet(n *yaml.Node, path string) bool {
	for _, s := range p.sc.VPC.Subnets {
		if s.Public || s.NATGateway {
			return true
		}
	}
	p.add(n, path, "the VPC has no way to the internet: mark a subnet public: true (internet gateway) or natGateway: true")
	return false
}

// sourceRef reads a pod ("node-1/pod-3") or a node ("node-1") that sends.
func (p *stepsParser) sourceRef(n *yaml.Node, path string) (string, bool) {
	if !strings.Contains(n.Value, "/") {
		if !p.nodeSet[n.Value] && p.deps.ever[deploymentOf(n.Value)] {
			return p.workloadPodRef(n, path, false) // a deployment's pod
		}
		return p.nodeRef(n, path)
	}
	return p.podRef(n, path)
}

func (p *stepsParser) curlStep(n *yaml.Node, path string) (*CurlStep, bool) {
	f := p.fields(n, path, []string{"from", "to", "expect", "within"})
	if f == nil {
		return nil, false
	}
	s := &CurlStep{ExpectOK: true}
	ok := true
	if x := f["from"]; x != nil {
		s.From, ok = p.sourceRef(x, join(path, "from"))
	} else {
		p.add(n, join(path, "from"), "missing (a pod such as node-1/pod-1, or a node)")
		ok = false
	}
	switch x := f["to"]; {
	case x == nil:
		p.add(n, join(path, "to"), "missing: want internet")
		ok = false
	case p.isHost(x.Value):
		s.To = x.Value
	case x.Value != Internet:
		p.add(x, join(path, "to"), "want internet (the lab's internet host) or a host of `hosts:`, got %q", x.Value)
		ok = false
	default:
		s.To = Internet
		ok = p.needInternet(x, join(path, "to")) && ok
	}
	if x := f["expect"]; x != nil {
		v, good := p.str(x, join(path, "expect"))
		switch {
		case !good:
			ok = false
		case v == "ok":
		case v == "timeout":
			s.ExpectOK = false
		default:
			p.add(x, join(path, "expect"), "want ok or timeout, got %q", v)
			ok = false
		}
	}
	if x := f["within"]; x != nil {
		var good bool
		s.Within, good = p.duration(x, join(path, "within"))
		ok = ok && good
	}
	return s, ok
}

// egressSource reads {pod: …, ip: …} or {node: …, ip: …}; whether the pod
// exists at that step is checked by egressFromRef.
func (p *parser) egressSource(n *yaml.Node, path string) (*EgressSource, bool) {
	f := p.fields(n, path, []string{"pod", "node", "ip"})
	if f == nil {
		return nil, false
	}
	e := &EgressSource{}
	ok := true
	switch {
	case f["pod"] != nil && f["node"] != nil:
		p.add(n, path, "give pod or node, not both")
		ok = false
	case f["pod"] != nil:
		e.From, ok = p.str(f["pod"], join(path, "pod"))
	case f["node"] != nil:
		e.From, ok = p.nodeRef(f["node"], join(path, "node"))
	default:
		p.add(n, join(path, "pod"), "missing: the pod (or node) whose connection to the internet is checked")
		ok = false
	}
	x := f["ip"]
	if x == nil {
		p.add(n, join(path, "ip"), "missing: want one of %s", strings.Join(EgressKinds, ", "))
		return e, false
	}
	v, good := p.str(x, join(path, "ip"))
	if good && !slices.Contains(EgressKinds, v) {
		msg := fmt.Sprintf("unknown address %q", v)
		if s := suggest(v, EgressKinds); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.add(x, join(path, "ip"), "%s; want one of %s", msg, strings.Join(EgressKinds, ", "))
		good = false
	}
	e.IP = v
	if good && v == EgressNATGatewayIP && !slices.ContainsFunc(p.sc.VPC.Subnets, func(s Subnet) bool { return s.NATGateway }) {
		p.add(x, join(path, "ip"), "natGatewayIP: no subnet has natGateway: true")
		good = false
	}
	return e, ok && good
}

// egressFromRef checks that the pod of an egressSource exists at its step.
func (p *stepsParser) egressFromRef(v *yaml.Node, path string, e *EgressSource) bool {
	g := valueOf(v, "egressSource")
	x := valueOf(g, "pod")
	if x == g {
		return true // a node, checked already
	}
	_, ok := p.podRef(x, join(join(path, "egressSource"), "pod"))
	return ok
}

// deploymentOf is the deployment part of a pod name such as web-3 ("" for
// a name without a number).
func deploymentOf(name string) string {
	i := strings.LastIndex(name, "-")
	if i <= 0 {
		return ""
	}
	return name[:i]
}
