package scenario

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// podTracker follows, step by step, which pods exist on each node, so a
// ping or breakRule naming a pod that was never created (or already
// deleted) is caught before the lab starts.
type podTracker struct {
	created map[string]int
	alive   map[string][]int
}

func (t *podTracker) add(node string, n int) {
	for i := 0; i < n; i++ {
		t.created[node]++
		t.alive[node] = append(t.alive[node], t.created[node])
	}
}

func (t *podTracker) del(node string, n int) {
	a := t.alive[node]
	if n > len(a) {
		n = len(a)
	}
	t.alive[node] = a[:len(a)-n]
}

func (t *podTracker) exists(node string, n int) bool {
	for _, x := range t.alive[node] {
		if x == n {
			return true
		}
	}
	return false
}

func (p *parser) steps(n *yaml.Node) {
	pods := &podTracker{created: map[string]int{}, alive: map[string][]int{}}
	// Fault names must be unique: the chaos layer refuses a second rule of
	// the same name, which would otherwise fail only mid-run.
	faultNames := map[string]int{}
	for i, e := range p.list(n, "steps", "steps") {
		path := index("steps", i)
		keys, vals := p.pairs(e, path, "one step kind ("+strings.Join(Kinds, ", ")+")")
		if keys == nil {
			if e.Kind == yaml.MappingNode {
				p.add(e, path, "empty step: want one of %s", strings.Join(Kinds, ", "))
			}
			continue
		}
		if len(keys) != 1 {
			names := make([]string, len(keys))
			for j, k := range keys {
				names[j] = k.Value
			}
			p.add(e, path, "a step has exactly one kind, got %s (write each as its own list item)", strings.Join(names, " and "))
			continue
		}
		kind, v := keys[0].Value, vals[0]
		path = join(path, kind)
		st := Step{Index: i, Line: e.Line, Kind: kind}
		ok := true
		switch kind {
		case KindPods:
			st.Pods, ok = p.podsStep(v, path)
			if ok {
				if st.Pods.Add > 0 {
					pods.add(st.Pods.Node, st.Pods.Add)
				} else {
					pods.del(st.Pods.Node, st.Pods.Delete)
				}
			}
		case KindExpect:
			st.Expect, ok = p.expect(v, path)
		case KindFault:
			st.Fault, ok = p.fault(v, path)
			if f := st.Fault; ok && f.Name != "" {
				if first, dup := faultNames[f.Name]; dup {
					p.add(valueOf(v, "name"), join(path, "name"), "fault name %q is already used by steps[%d]", f.Name, first)
					ok = false
				} else {
					faultNames[f.Name] = i
				}
			}
		case KindRestart:
			f := p.fields(v, path, []string{"node"})
			if f == nil {
				ok = false
				break
			}
			st.Restart = &RestartStep{}
			if x := f["node"]; x != nil {
				st.Restart.Node, ok = p.nodeRef(x, join(path, "node"))
			} else {
				p.add(v, join(path, "node"), "missing")
				ok = false
			}
		case KindPing:
			st.Ping, ok = p.ping(v, path, pods)
		case KindSleep:
			st.Sleep, ok = p.duration(v, path)
		case KindBreakRule, KindFixRule:
			f := p.fields(v, path, []string{"pod"})
			if f == nil {
				ok = false
				break
			}
			st.Rule = &RuleStep{}
			if x := f["pod"]; x != nil {
				st.Rule.Pod, ok = p.podRef(x, join(path, "pod"), pods)
			} else {
				p.add(v, join(path, "pod"), "missing")
				ok = false
			}
		default:
			msg := fmt.Sprintf("unknown step kind %q", kind)
			if s := suggest(kind, Kinds); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			p.add(keys[0], path, "%s; want one of %s", msg, strings.Join(Kinds, ", "))
			ok = false
		}
		if ok {
			p.sc.Steps = append(p.sc.Steps, st)
		}
	}
}

// valueOf returns the value of key in the mapping n, or n itself when it
// has none, so a problem can point at the exact line.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}

// maxPodsPerStep bounds a pods step well above any node's max pods.
const maxPodsPerStep = 1000

func (p *parser) podsStep(n *yaml.Node, path string) (*PodsStep, bool) {
	f := p.fields(n, path, []string{"node", "add", "delete"})
	if f == nil {
		return nil, false
	}
	s := &PodsStep{}
	ok := true
	if x := f["node"]; x != nil {
		s.Node, ok = p.nodeRef(x, join(path, "node"))
	} else {
		p.add(n, join(path, "node"), "missing")
		ok = false
	}
	a, d := f["add"], f["delete"]
	switch {
	case a != nil && d != nil:
		p.add(n, path, "give add or delete, not both")
		ok = false
	case a != nil:
		var good bool
		s.Add, good = p.count(a, join(path, "add"), 1)
		if good && s.Add > maxPodsPerStep {
			p.add(a, join(path, "add"), "at most %d pods per step (no instance type runs more than 737), got %d", maxPodsPerStep, s.Add)
			good = false
		}
		ok = ok && good
	case d != nil:
		var good bool
		s.Delete, good = p.count(d, join(path, "delete"), 1)
		ok = ok && good
	default:
		p.add(n, path, "missing add: N or delete: N")
		ok = false
	}
	return s, ok
}

func (p *parser) expect(n *yaml.Node, path string) (*Expect, bool) {
	known := append([]string{"node", "within"}, NodeKeys...)
	known = append(known, "subnetFree", "ec2Errors")
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
	if len(e.Figures) == 0 && e.SubnetFree == nil && e.EC2Errors == nil && ok {
		p.add(n, path, "nothing to expect: give at least one of %s, subnetFree, ec2Errors", strings.Join(NodeKeys, ", "))
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

func (p *parser) ping(n *yaml.Node, path string, pods *podTracker) (*PingStep, bool) {
	f := p.fields(n, path, []string{"from", "to", "expect", "within"})
	if f == nil {
		return nil, false
	}
	s := &PingStep{ExpectOK: true}
	ok := true
	good := true
	for _, k := range []string{"from", "to"} {
		x := f[k]
		if x == nil {
			p.add(n, join(path, k), "missing (a pod such as node-1/pod-1)")
			ok = false
			continue
		}
		ref, good := p.podRef(x, join(path, k), pods)
		if k == "from" {
			s.From = ref
		} else {
			s.To = ref
		}
		ok = ok && good
	}
	if x := f["expect"]; x != nil {
		v, good := p.str(x, join(path, "expect"))
		switch {
		case !good:
			ok = false
		case v == "ok":
		case v == "fail":
			s.ExpectOK = false
		default:
			p.add(x, join(path, "expect"), "want ok or fail, got %q", v)
			ok = false
		}
	}
	if x := f["within"]; x != nil {
		s.Within, good = p.duration(x, join(path, "within"))
		ok = ok && good
	}
	return s, ok
}

func (p *parser) podRef(n *yaml.Node, path string, pods *podTracker) (string, bool) {
	ref, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	node, num, perr := SplitPod(ref)
	if perr != nil {
		p.add(n, path, "%v", perr)
		return "", false
	}
	if !p.nodeSet[node] {
		p.add(n, path, "pod %q is on unknown node %q", ref, node)
		return "", false
	}
	if !pods.exists(node, num) {
		switch {
		case num > pods.created[node]:
			p.add(n, path, "pod %q does not exist yet: only %d pods are added to %s before this step", ref, pods.created[node], node)
		default:
			p.add(n, path, "pod %q was deleted by an earlier step", ref)
		}
		return "", false
	}
	return ref, true
}

// SplitPod splits a pod name "<node>/pod-<n>" into the node and n.
func SplitPod(ref string) (node string, n int, err error) {
	m := podRefRe.FindStringSubmatch(ref)
	if m == nil {
		return "", 0, fmt.Errorf("bad pod name %q: want <node>/pod-<n>, e.g. node-1/pod-1", ref)
	}
	n, err = strconv.Atoi(m[2])
	if err != nil || n < 1 {
		return "", 0, fmt.Errorf("bad pod name %q: pods are numbered from 1", ref)
	}
	return m[1], n, nil
}
