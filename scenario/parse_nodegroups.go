package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/enilab/enilab/ipamd/config"
)

// NodesStep adds nodes to a node group or removes its newest ones.
type NodesStep struct {
	Group  string
	Add    int
	Remove int
	// Nodes are the nodes added (their specs) or removed (newest first),
	// decided when the file is read: group <g> numbers its nodes <g>-1,
	// <g>-2, … and never reuses a number.
	Nodes []NodeSpec
}

// describe renders a nodes step for the timeline.
func (s *NodesStep) describe() string {
	names := make([]string, len(s.Nodes))
	for i, n := range s.Nodes {
		names[i] = n.Name
	}
	if s.Add > 0 {
		return fmt.Sprintf("nodes: add %d to %s (%s)", s.Add, s.Group, strings.Join(names, ", "))
	}
	return fmt.Sprintf("nodes: remove %d from %s (%s)", s.Remove, s.Group, strings.Join(names, ", "))
}

// groupFields reads what makes a `nodes` entry a node group: its count
// (then steps may scale it) and its own ipamd environment.
func (p *parser) groupFields(f map[string]*yaml.Node, path string, spec *NodeSpec) bool {
	ok := true
	if x := f["ipamd"]; x != nil {
		g := p.fields(x, join(path, "ipamd"), []string{"env"})
		if g != nil && g["env"] != nil {
			at := join(join(path, "ipamd"), "env")
			spec.IPAMDEnv = map[string]string{}
			p.envMap(g["env"], at, spec.IPAMDEnv)
			merged := maps.Clone(p.sc.IPAMDEnv)
			maps.Copy(merged, spec.IPAMDEnv)
			if _, err := config.FromEnv(func(q string) (string, bool) { v, ok := merged[q]; return v, ok }); err != nil {
				p.add(g["env"], at, "%v", configProblems(err))
				ok = false
			}
		}
	}
	if f["count"] != nil && spec.Name != "" {
		spec.Group = spec.Name
		if p.sc.Groups == nil {
			p.sc.Groups = map[string]NodeSpec{}
		}
		p.sc.Groups[spec.Name] = *spec
	}
	return ok
}

// groupState is a node group as the steps read so far leave it.
type groupState struct {
	next  int
	alive []string
}

// groupStates starts every group at its count.
func (p *stepsParser) groupStates() map[string]*groupState {
	out := map[string]*groupState{}
	for name := range p.sc.Groups {
		out[name] = &groupState{next: 1}
	}
	for _, n := range p.sc.Nodes {
		if g := out[n.Group]; g != nil {
			g.alive = append(g.alive, n.Name)
			g.next++
		}
	}
	return out
}

// nodesStep reads a nodes step: a group and add or remove.
func (p *stepsParser) nodesStep(v *yaml.Node, path string) (*NodesStep, bool) {
	f := p.fields(v, path, []string{"group", "add", "remove"})
	if f == nil {
		return nil, false
	}
	s := &NodesStep{}
	x := f["group"]
	if x == nil {
		p.add(v, join(path, "group"), "missing")
		return s, false
	}
	name, ok := p.str(x, join(path, "group"))
	if !ok {
		return s, false
	}
	g := p.groups[name]
	if g == nil {
		groups := slices.Sorted(maps.Keys(p.groups))
		msg := fmt.Sprintf("unknown node group %q", name)
		if sg := suggest(name, groups); sg != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sg)
		} else if len(groups) > 0 {
			msg += " (groups: " + strings.Join(groups, ", ") + ")"
		} else {
			msg += ": a node group is a nodes entry with a count (0 starts it empty)"
		}
		p.add(x, join(path, "group"), "%s", msg)
		return s, false
	}
	s.Group = name
	a, r := f["add"], f["remove"]
	switch {
	case a != nil && r != nil:
		p.add(v, path, "give add or remove, not both")
		return s, false
	case a != nil:
		limit := p.sc.maxPerGroup(p.sc.Groups[name])
		if s.Add, ok = p.count(a, join(path, "add"), 1); ok && len(g.alive)+s.Add > limit {
			p.add(a, join(path, "add"), "at most %d nodes per group: %s has %d", limit, name, len(g.alive))
			ok = false
		}
		for i := 0; ok && i < s.Add; i++ {
			spec := p.sc.Groups[name]
			spec.Name = fmt.Sprintf("%s-%d", name, g.next)
			g.next++
			g.alive = append(g.alive, spec.Name)
			p.nodeSet[spec.Name] = true
			s.Nodes = append(s.Nodes, spec)
		}
	case r != nil:
		if s.Remove, ok = p.count(r, join(path, "remove"), 1); ok && s.Remove > len(g.alive) {
			p.add(r, join(path, "remove"), "node group %s has %d nodes at this step, cannot remove %d", name, len(g.alive), s.Remove)
			ok = false
		}
		for i := 0; ok && i < s.Remove; i++ {
			last := g.alive[len(g.alive)-1]
			g.alive = g.alive[:len(g.alive)-1]
			delete(p.nodeSet, last)
			s.Nodes = append(s.Nodes, NodeSpec{Name: last, Group: name})
		}
	default:
		p.add(v, path, "missing add: N or remove: N")
		return s, false
	}
	return s, ok
}
