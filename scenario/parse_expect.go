package scenario

import (
	"strings"

	"gopkg.in/yaml.v3"
)

func (p *parser) expect(n *yaml.Node, path string) (*Expect, bool) {
	known := append([]string{"node", "within"}, NodeKeys...)
	known = append(known, "subnetFree", "ec2Errors", "egressSource", "pod", "state", "ipInSubnet", "reason")
	f := p.fields(n, path, known)
	if f == nil {
		return nil, false
	}
	e := &Expect{Within: DefaultWithin, Figures: map[string]int{}}
	ok := true
	if x := f["node"]; x != nil {
		e.Node, ok = p.nodeRef(x, join(path, "node"))
	}
	if x := f["within"]; x != nil {
		d, good := p.duration(x, join(path, "within"))
		if good && d == 0 {
			p.add(x, join(path, "within"), "must be more than 0")
			good = false
		}
		e.Within, ok = d, ok && good
	}
	hasNodeKey := false
	for _, k := range NodeKeys {
		if x := f[k]; x != nil {
			hasNodeKey = true
			v, good := p.count(x, join(path, k), 0)
			if good {
				e.Figures[k] = v
			}
			ok = ok && good
		}
	}
	if hasNodeKey && f["node"] == nil {
		p.add(n, join(path, "node"), "missing: %s are figures of one node", strings.Join(presentKeys(f, NodeKeys), ", "))
		ok = false
	}
	if x := f["subnetFree"]; x != nil {
		e.SubnetFree = map[string]int{}
		keys, vals := p.pairs(x, join(path, "subnetFree"), "subnet ids to free address counts")
		for i, k := range keys {
			kp := join(join(path, "subnetFree"), k.Value)
			_, good := p.subnetRef(k, kp)
			v, vgood := p.count(vals[i], kp, 0)
			if good && vgood {
				e.SubnetFree[k.Value] = v
			} else {
				ok = false
			}
		}
	}
	if x := f["ec2Errors"]; x != nil {
		e.EC2Errors = map[string]int{}
		keys, vals := p.pairs(x, join(path, "ec2Errors"), "EC2 error codes to minimum counts")
		for i, k := range keys {
			kp := join(join(path, "ec2Errors"), k.Value)
			good := true
			if !ec2CodeRe.MatchString(k.Value) {
				p.add(k, kp, "bad EC2 error code %q: want e.g. RequestLimitExceeded", k.Value)
				good = false
			}
			v, vgood := p.count(vals[i], kp, 1)
			if good && vgood {
				e.EC2Errors[k.Value] = v
			} else {
				ok = false
			}
		}
	}
	if x := f["egressSource"]; x != nil {
		var good bool
		e.EgressSource, good = p.egressSource(x, join(path, "egressSource"))
		ok = ok && good
	}
	pod, good := p.podExpect(n, f, path)
	e.Pod, ok = pod, ok && good
	if len(e.Figures) == 0 && e.SubnetFree == nil && e.EC2Errors == nil && e.EgressSource == nil && e.Pod == nil && ok {
		p.add(n, path, "nothing to expect: give at least one of %s, subnetFree, ec2Errors, egressSource, pod", strings.Join(NodeKeys, ", "))
		ok = false
	}
	return e, ok
}

func presentKeys(f map[string]*yaml.Node, keys []string) []string {
	var out []string
	for _, k := range keys {
		if f[k] != nil {
			out = append(out, k)
		}
	}
	return out
}
