package scenario

import "gopkg.in/yaml.v3"

func (p *parser) fault(n *yaml.Node, path string) (*Fault, bool) {
	f := p.fields(n, path, []string{"name", "kind", "operations", "percentage", "after", "start", "duration", "count"})
	if f == nil {
		return nil, false
	}
	ft := &Fault{Percentage: 100}
	ok := true
	good := true
	if x := f["name"]; x != nil {
		ft.Name, good = p.str(x, join(path, "name"))
		ok = ok && good
	}
	if x := f["kind"]; x != nil {
		ft.Kind, good = p.str(x, join(path, "kind"))
		if good && ft.Kind != "internal" && ft.Kind != "throttle" && ft.Kind != "unavailable" && !ec2CodeRe.MatchString(ft.Kind) {
			p.add(x, join(path, "kind"), "want internal, throttle, unavailable or an EC2 error code, got %q", ft.Kind)
			good = false
		}
		ok = ok && good
	} else {
		p.add(n, join(path, "kind"), "missing (internal, throttle, unavailable or an EC2 error code)")
		ok = false
	}
	if x := f["operations"]; x != nil {
		for i, o := range p.list(x, join(path, "operations"), "EC2 actions") {
			a, good := p.action(o, index(join(path, "operations"), i))
			if good {
				ft.Operations = append(ft.Operations, a)
			}
			ok = ok && good
		}
	}
	if x := f["percentage"]; x != nil {
		v, good := p.count(x, join(path, "percentage"), 1)
		if good && v > 100 {
			p.add(x, join(path, "percentage"), "want 1 to 100, got %d", v)
			good = false
		}
		ft.Percentage, ok = v, ok && good
	}
	if x := f["after"]; x != nil {
		ft.After, good = p.count(x, join(path, "after"), 0)
		ok = ok && good
	}
	if x := f["start"]; x != nil {
		ft.Delay, good = p.duration(x, join(path, "start"))
		ok = ok && good
	}
	if x := f["duration"]; x != nil {
		ft.Duration, good = p.duration(x, join(path, "duration"))
		ok = ok && good
	}
	if x := f["count"]; x != nil {
		ft.Count, good = p.count(x, join(path, "count"), 1)
		ok = ok && good
	}
	return ft, ok
}
