package scenario

import (
	"fmt"
	"maps"
	"strings"
)

// stepContext is what a step sent to a live lab is checked against: the
// scenario's nodes and subnets, and the pods and fault names of every step
// that ran before it (the file's, then the live ones).
type stepContext struct {
	sc         *Scenario
	pods       *podTracker
	faultNames map[string]int
	// next is the index the next step gets: live steps number on from the
	// file's.
	next int
}

// newStepContext replays the file's steps: their pods and fault names.
func newStepContext(sc *Scenario) *stepContext {
	c := &stepContext{sc: sc, pods: newPodTracker(), faultNames: map[string]int{}, next: len(sc.Steps)}
	for _, st := range sc.Steps {
		c.record(st)
	}
	return c
}

// record notes the step's effect on the pods and fault names later steps
// may name.
func (c *stepContext) record(st Step) {
	switch {
	case st.Pods != nil && st.Pods.Add > 0:
		c.pods.add(st.Pods.Node, st.Pods.Add)
	case st.Pods != nil:
		c.pods.del(st.Pods.Node, st.Pods.Delete)
	case st.Fault != nil && st.Fault.Name != "":
		c.faultNames[st.Fault.Name] = st.Index
	}
}

// parse reads one step written as an entry of `steps:` (YAML or flow
// text, e.g. `{pods: {node: node-1, add: 3}}`) and checks it as the
// scenario parser would at this point of the run. A bad step is a Problems
// error and changes nothing.
func (c *stepContext) parse(text string) (Step, error) {
	p := &parser{file: "step", sc: c.sc, subnets: map[string]Subnet{}, nodeSet: map[string]bool{}}
	for _, s := range c.sc.VPC.Subnets {
		p.subnets[s.ID] = s
	}
	for _, n := range c.sc.Nodes {
		p.nodeSet[n.Name] = true
	}
	if strings.TrimSpace(text) == "" {
		p.addAt(0, "", "empty step: want one of %s, e.g. {pods: {node: NODE, add: 3}}", strings.Join(Kinds, ", "))
		return Step{}, p.probs
	}
	root, line, msg := decodeYAML([]byte(text))
	if msg != "" {
		p.addAt(line, "", "%s", msg)
		return Step{}, p.probs
	}
	sp := &stepsParser{parser: p, pods: c.pods.clone(), faultNames: maps.Clone(c.faultNames)}
	st, ok := sp.step(c.next, root)
	if ok {
		// The one step, checked against what the node's type can hold.
		one := *c.sc
		one.Steps = []Step{st}
		p.sc = &one
		p.impossibleExpects()
	}
	if len(p.probs) > 0 {
		return Step{}, c.located(p.probs.sorted(), text)
	}
	c.record(st)
	c.next++
	return st, nil
}

// located names the problems after the step ("step 14: pods.node: …")
// rather than a file; a one-line step has no line numbers.
func (c *stepContext) located(ps Problems, text string) Problems {
	prefix := index("steps", c.next)
	oneLine := !strings.Contains(strings.TrimSpace(text), "\n")
	for i := range ps {
		ps[i].File = fmt.Sprintf("step %d", c.next+1)
		ps[i].Field = strings.TrimPrefix(strings.TrimPrefix(ps[i].Field, prefix), ".")
		if oneLine {
			ps[i].Line = 0
		}
	}
	return ps
}

// ParseStep checks one step as if it were appended to the scenario's
// steps: names it uses must exist after the file's steps. It is what
// `enilab step` runs before it touches a live lab.
func ParseStep(sc *Scenario, text string) (Step, error) {
	return newStepContext(sc).parse(text)
}
