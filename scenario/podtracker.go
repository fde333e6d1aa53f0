package scenario

import (
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/enilab/enilab/internal/datapath"
)

// podTracker follows, step by step, which pods exist on each node, so a
// ping or breakRule naming a pod that was never created (or already
// deleted) is caught before the lab starts.
type podTracker struct {
	created map[string]int
	alive   map[string][]int
}

func newPodTracker() *podTracker {
	return &podTracker{created: map[string]int{}, alive: map[string][]int{}}
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

func (t *podTracker) exists(node string, n int) bool { return slices.Contains(t.alive[node], n) }

// podRef reads a pod name and checks that the steps before this one
// created the pod and did not delete it.
func (p *stepsParser) podRef(n *yaml.Node, path string) (string, bool) {
	ref, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	node, num, perr := datapath.ParsePodName(ref)
	if perr != nil {
		p.add(n, path, "%v", perr)
		return "", false
	}
	if !p.nodeSet[node] {
		p.add(n, path, "pod %q is on unknown node %q", ref, node)
		return "", false
	}
	if !p.pods.exists(node, num) {
		switch {
		case num > p.pods.created[node]:
			p.add(n, path, "pod %q does not exist yet: only %d pods are added to %s before this step", ref, p.pods.created[node], node)
		default:
			p.add(n, path, "pod %q was deleted by an earlier step", ref)
		}
		return "", false
	}
	return ref, true
}

func (t *podTracker) clone() *podTracker {
	c := newPodTracker()
	for k, v := range t.created {
		c.created[k] = v
	}
	for k, v := range t.alive {
		c.alive[k] = slices.Clone(v)
	}
	return c
}

// remove forgets one numbered pod (a delete step named it).
func (t *podTracker) remove(ref string) {
	node, num, err := datapath.ParsePodName(ref)
	if err != nil {
		return
	}
	if i := slices.Index(t.alive[node], num); i >= 0 {
		t.alive[node] = slices.Delete(t.alive[node], i, i+1)
	}
}
