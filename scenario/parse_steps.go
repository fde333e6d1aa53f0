package scenario

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// stepsParser carries what one step's checks need from the steps before it.
type stepsParser struct {
	*parser
	pods *podTracker
	// faultNames maps each fault name to its step: the chaos layer refuses
	// a second rule of the same name, which would otherwise fail only
	// mid-run.
	faultNames map[string]int
	// deps are the deployments the steps before this one create.
	deps deployments
	// groups are the node groups' nodes at this step.
	groups map[string]*groupState
	// revision counts the ipamd steps so far (the DaemonSet's revisions
	// after the first).
	revision int
}

func (p *parser) steps(n *yaml.Node) {
	sp := &stepsParser{parser: p, pods: newPodTracker(), faultNames: map[string]int{}, deps: deployments{alive: map[string]bool{}, ever: map[string]bool{}}}
	sp.groups = sp.groupStates()
	for i, e := range p.list(n, "steps", "steps") {
		if st, ok := sp.step(i, e); ok {
			p.sc.Steps = append(p.sc.Steps, st)
		}
	}
}

// step reads steps[i], a mapping with exactly one key: its kind.
func (p *stepsParser) step(i int, e *yaml.Node) (Step, bool) {
	path := index("steps", i)
	keys, vals := p.pairs(e, path, "one step kind ("+strings.Join(Kinds, ", ")+")")
	if keys == nil {
		if e.Kind == yaml.MappingNode {
			p.add(e, path, "empty step: want one of %s", strings.Join(Kinds, ", "))
		}
		return Step{}, false
	}
	if len(keys) != 1 {
		names := make([]string, len(keys))
		for j, k := range keys {
			names[j] = k.Value
		}
		p.add(e, path, "a step has exactly one kind, got %s (write each as its own list item)", strings.Join(names, " and "))
		return Step{}, false
	}
	kind, v := keys[0].Value, vals[0]
	path = join(path, kind)
	st := Step{Index: i, Line: e.Line, Kind: kind}
	ok := true
	switch kind {
	case KindPods:
		st.Pods, ok = p.podsStep(v, path)
	case KindExpect:
		st.Expect, ok = p.expect(v, path)
		if ok && st.Expect.EgressSource != nil {
			ok = p.egressFromRef(v, path, st.Expect.EgressSource)
		}
		if ok && st.Expect.Pod != nil {
			ok = p.podExpectRef(v, path, st.Expect)
		}
	case KindFault:
		st.Fault, ok = p.faultStep(i, v, path)
	case KindRestart:
		st.Restart, ok = p.restartStep(v, path)
	case KindPing:
		st.Ping, ok = p.ping(v, path)
	case KindSleep:
		st.Sleep, ok = p.duration(v, path)
	case KindBreakRule, KindFixRule:
		st.Rule, ok = p.ruleStep(v, path)
	case KindCheckpoint:
		st.Checkpoint, ok = p.checkpointStep(v, path)
	case KindCurl:
		st.Curl, ok = p.curlStep(v, path)
	case KindDeploy:
		st.Deploy, ok = p.deployStep(v, path)
	case KindDelete:
		st.Delete, ok = p.deleteStep(v, path)
	case KindNodes:
		st.Nodes, ok = p.nodesStep(v, path)
	case KindIPAMD:
		st.IPAMD, ok = p.ipamdStep(v, path)
	default:
		msg := fmt.Sprintf("unknown step kind %q", kind)
		if s := suggest(kind, Kinds); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.add(keys[0], path, "%s; want one of %s", msg, strings.Join(Kinds, ", "))
		ok = false
	}
	return st, ok
}

// maxPodsPerStep bounds a pods step well above any node's max pods.
const maxPodsPerStep = 1000

// podsStep reads a pods step and, when it is valid, records its effect on
// the pods later steps may name.
func (p *stepsParser) podsStep(n *yaml.Node, path string) (*PodsStep, bool) {
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
	if ok {
		if s.Add > 0 {
			p.pods.add(s.Node, s.Add)
		} else {
			p.pods.del(s.Node, s.Delete)
		}
	}
	return s, ok
}

// faultStep reads a fault step whose name, if any, no earlier fault uses.
func (p *stepsParser) faultStep(i int, v *yaml.Node, path string) (*Fault, bool) {
	f, ok := p.fault(v, path)
	if !ok || f.Name == "" {
		return f, ok
	}
	if first, dup := p.faultNames[f.Name]; dup {
		p.add(valueOf(v, "name"), join(path, "name"), "fault name %q is already used by steps[%d]", f.Name, first)
		return f, false
	}
	p.faultNames[f.Name] = i
	return f, true
}

func (p *stepsParser) restartStep(v *yaml.Node, path string) (*RestartStep, bool) {
	f := p.fields(v, path, []string{"node", "env", "down"})
	if f == nil {
		return nil, false
	}
	r := &RestartStep{}
	if f["env"] != nil {
		r.Env = map[string]string{}
		p.envMap(f["env"], join(path, "env"), r.Env)
	}
	if x := f["down"]; x != nil {
		d, good := p.duration(x, join(path, "down"))
		if !good {
			return r, false
		}
		r.Down = d
	}
	x := f["node"]
	if x == nil {
		p.add(v, join(path, "node"), "missing")
		return r, false
	}
	var ok bool
	r.Node, ok = p.nodeRef(x, join(path, "node"))
	return r, ok
}

// checkpointStep reads a checkpoint step: a node and one of
// CheckpointActions.
func (p *stepsParser) checkpointStep(v *yaml.Node, path string) (*CheckpointStep, bool) {
	f := p.fields(v, path, []string{"node", "action"})
	if f == nil {
		return nil, false
	}
	c := &CheckpointStep{}
	ok := true
	if x := f["node"]; x != nil {
		c.Node, ok = p.nodeRef(x, join(path, "node"))
	} else {
		p.add(v, join(path, "node"), "missing")
		ok = false
	}
	x := f["action"]
	if x == nil {
		p.add(v, join(path, "action"), "missing: want one of %s", strings.Join(CheckpointActions, ", "))
		return c, false
	}
	a, good := p.str(x, join(path, "action"))
	if !good {
		return c, false
	}
	if !slices.Contains(CheckpointActions, a) {
		msg := fmt.Sprintf("unknown checkpoint action %q", a)
		if s := suggest(a, CheckpointActions); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.add(x, join(path, "action"), "%s; want one of %s", msg, strings.Join(CheckpointActions, ", "))
		return c, false
	}
	c.Action = a
	return c, ok
}

// ruleStep reads a breakRule or fixRule step.
func (p *stepsParser) ruleStep(v *yaml.Node, path string) (*RuleStep, bool) {
	f := p.fields(v, path, []string{"pod"})
	if f == nil {
		return nil, false
	}
	r := &RuleStep{}
	x := f["pod"]
	if x == nil {
		p.add(v, join(path, "pod"), "missing")
		return r, false
	}
	var ok bool
	r.Pod, ok = p.podRef(x, join(path, "pod"))
	return r, ok
}

func (p *stepsParser) ping(n *yaml.Node, path string) (*PingStep, bool) {
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
		var ref string
		var good bool
		if k == "to" && x.Value == Internet {
			ref, good = Internet, p.needInternet(x, join(path, k))
		} else {
			ref, good = p.podRef(x, join(path, k))
		}
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
