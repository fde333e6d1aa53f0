package scenario

import (
	"context"
	"slices"
	"sync"
)

// fleetLaunchParallelism is how many fleet nodes start at once: a node
// group scaled by N launches its instances together, and a fleet node's
// start-up is mostly waiting on EC2 and IMDS.
const fleetLaunchParallelism = 32

// groupLab is a Lab that starts nodes as one node group: instances
// launched in order, nodes booted at once, EC2's addresses handed out in
// order (scenario/nodelab's, through node.Lab.AddNodes).
type groupLab interface {
	AddNodes(ctx context.Context, specs []NodeSpec) []error
}

// launcher returns how the i-th of specs is started: fleet nodes
// (datapath: none) are all started together first, so they scale out at
// the same lab moment as a node group does; nodes with a datapath as one
// node group where the lab can (groupLab), else one at a time, in order,
// when asked.
func (r *runner) launcher(ctx context.Context, specs []NodeSpec) func(i int) error {
	for _, s := range specs {
		if r.sc.IsFleet(s) {
			continue
		}
		if g, ok := r.lab.(groupLab); ok {
			errs := g.AddNodes(ctx, specs)
			return func(i int) error { return errs[i] }
		}
		return func(i int) error { return r.lab.AddNode(ctx, specs[i]) }
	}
	errs := make([]error, len(specs))
	sem := make(chan struct{}, fleetLaunchParallelism)
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = r.lab.AddNode(ctx, spec)
		}()
	}
	wg.Wait()
	return func(i int) error { return errs[i] }
}

// upNode reads a node that has just come up. It reuses the last snapshot
// when that already holds the node: a fleet's nodes have all launched
// before the first is printed, and a snapshot reads every node, so one
// per node made a 1,000-node fleet's start quadratic (2 s a line).
func (r *runner) upNode(name string, snap *Snapshot) NodeState {
	if n, ok := snap.Node(name); ok {
		return n
	}
	*snap = r.lab.Snapshot()
	n, _ := snap.Node(name)
	return n
}

// fileOrder lists the snapshot's nodes in the file's order, those added by
// steps after them in the lab's: fleet nodes join the lab in whatever
// order their launches finish, and the report keeps the file's.
func (r *runner) fileOrder(s Snapshot) Snapshot {
	pos := make(map[string]int, len(r.sc.Nodes))
	for i, n := range r.sc.Nodes {
		pos[n.Name] = i
	}
	rank := func(name string) int {
		if i, ok := pos[name]; ok {
			return i
		}
		return len(pos)
	}
	s.Nodes = slices.Clone(s.Nodes)
	slices.SortStableFunc(s.Nodes, func(a, b NodeState) int { return rank(a.Name) - rank(b.Name) })
	return s
}
