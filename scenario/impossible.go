package scenario

import (
	"fmt"

	"github.com/enilab/enilab/internal/ec2limits"
)

// impossibleExpects reports expectations no run can meet on the node's
// instance type: more ENIs than it attaches, more addresses or prefixes
// than its ENIs hold, more pods than it has addresses for. An expect that
// can never hold would only fail after the whole run.
func (p *parser) impossibleExpects() {
	types := map[string]ec2limits.Type{}
	for _, n := range p.sc.Nodes {
		if t, ok := ec2limits.Lookup(n.InstanceType); ok {
			types[n.Name] = t
		}
	}
	for _, st := range p.sc.Steps {
		if st.Expect == nil || st.Expect.Node == "" {
			continue
		}
		t, ok := types[st.Expect.Node]
		if !ok {
			continue
		}
		for key, most := range figureCeilings(t) {
			if v, set := st.Expect.Figures[key]; set && v > most.value {
				p.addAt(st.Line, fmt.Sprintf("steps[%d].expect.%s", st.Index, key),
					"%d can never hold on %s (%s: %s)", v, st.Expect.Node, t.Name, fmt.Sprintf(most.why, most.value))
			}
		}
	}
}

type ceiling struct {
	value int
	why   string
}

// figureCeilings are the most each expect figure can be on type t, in
// either IP mode: addresses count /28 prefixes at 16 each.
func figureCeilings(t ec2limits.Type) map[string]ceiling {
	enis := t.MaxENIsOnCard(t.DefaultNetworkCard)
	slots := enis * max(t.IPv4PerENI-1, 0)
	addrs := slots
	if t.SupportsPrefixes() {
		addrs = slots * 16
	}
	return map[string]ceiling{
		"enis":        {enis, "at most %d ENIs"},
		"prefixes":    {slots, "at most %d /28 prefixes, one per secondary address slot"},
		"totalIPs":    {addrs, "at most %d pod addresses"},
		"assignedIPs": {addrs, "at most %d pod addresses"},
		"warmIPs":     {addrs, "at most %d pod addresses"},
		"readyPods":   {addrs, "at most %d pod addresses"},
	}
}
