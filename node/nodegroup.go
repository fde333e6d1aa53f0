package node

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/enilab/enilab/fakeec2"
)

// AddNodes starts specs as one node group. Their instances launch in specs'
// order, as EC2 launches a node group's, and the nodes then boot at once:
// namespaces, links, host rules and IMDS reads overlap. EC2 writes do not:
// each node's EC2 calls (its ipamd's, and the trunk ENI the resource
// controller attaches) wait until the node before it is up or has failed.
// So EC2 hands out ENIs and addresses in specs' order, and a seed gives
// each node the same ones every run.
//
// nodes[i] is specs[i]'s node, nil when it did not come up, and errs[i]
// says why; a node that fails does not stop the others.
func (l *Lab) AddNodes(ctx context.Context, specs []Spec) (nodes []*Node, errs []error) {
	nodes, errs = make([]*Node, len(specs)), make([]error, len(specs))
	members := make([]*Node, len(specs))
	for i, spec := range specs {
		members[i], errs[i] = l.newMember(ctx, spec)
	}
	// The previous member's launch and boot: none yet.
	launched, booted := make(chan struct{}), make(chan struct{})
	close(launched)
	close(booted)
	var wg sync.WaitGroup
	panics := make([]any, len(specs))
	for i, n := range members {
		if n == nil {
			continue
		}
		n.ec2Turn = booted
		launch, boot := make(chan struct{}), make(chan struct{})
		wg.Add(1)
		go func(prev <-chan struct{}) {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			nodes[i], errs[i] = l.startMember(ctx, n, prev, launch, boot)
		}(launched)
		launched, booted = launch, boot
	}
	wg.Wait()
	// A panic in a node's start (which has removed that node) goes on in
	// the caller, as it would had the node started there.
	for _, p := range panics {
		if p != nil {
			panic(p)
		}
	}
	return nodes, errs
}

// AddNode launches an instance and builds its node: namespace, eth0 with
// the primary IP, endpoints, ipamd. It returns once ipamd serves.
func (l *Lab) AddNode(ctx context.Context, spec Spec) (*Node, error) {
	nodes, errs := l.AddNodes(ctx, []Spec{spec})
	return nodes[0], errs[0]
}

// newMember checks one spec and makes its node with a fresh index.
func (l *Lab) newMember(ctx context.Context, spec Spec) (*Node, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("node: invalid node spec: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("node: add node %s: %w", spec.Name, err)
	}
	if spec.Subnet == "" && len(l.cfg.Subnets) > 0 {
		spec.Subnet = l.cfg.Subnets[0].ID
	}
	subnet, ok := l.ec2.Subnet(spec.Subnet)
	if !ok {
		return nil, fmt.Errorf("node: node %s: unknown subnet %q", spec.Name, spec.Subnet)
	}
	idx, err := l.reserveIndex(spec.Name)
	if err != nil {
		return nil, err
	}
	return l.newNode(spec, idx, subnet), nil
}

// startMember prepares, launches and boots one member of a group. launch
// closes once its instance runs or will not (the next member launches
// after it); boot closes once it is up or gone (the next member calls EC2
// after it: after all of this one's calls, a failed node's
// TerminateInstance included).
func (l *Lab) startMember(ctx context.Context, n *Node, prev <-chan struct{}, launch, boot chan<- struct{}) (*Node, error) {
	defer close(boot)
	// A node that does not come up (error or panic) leaves nothing: not in
	// the lab, not in EC2, not in the kernel.
	up := false
	defer func() {
		if !up {
			l.discard(n)
		}
	}()
	inst, err := l.launchMember(ctx, n, prev, launch)
	if err != nil {
		return nil, err
	}
	if err := n.boot(ctx, inst); err != nil {
		return nil, err
	}
	n.log.Info("node up", "type", n.spec.InstanceType, "primaryIP", inst.PrimaryIP, "netns", n.nsName)
	up = true
	return n, nil
}

// launchMember builds what the node needs before its instance runs, then
// launches it once the member before it has launched.
func (l *Lab) launchMember(ctx context.Context, n *Node, prev <-chan struct{}, launch chan<- struct{}) (fakeec2.Instance, error) {
	defer close(launch)
	if err := n.prepare(ctx); err != nil {
		return fakeec2.Instance{}, err
	}
	select {
	case <-prev:
	case <-ctx.Done():
		return fakeec2.Instance{}, fmt.Errorf("node: add node %s: %w", n.name, ctx.Err())
	}
	return l.runInstance(n)
}

// awaitEC2Turn returns once the node may call EC2: at once, but for a
// member of a node group whose previous member is still booting.
func (n *Node) awaitEC2Turn(ctx context.Context) error {
	if n.ec2Turn == nil {
		return nil
	}
	select {
	case <-n.ec2Turn:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("node: %s: waiting for the node before it in the group: %w", n.name, ctx.Err())
	case <-n.ctx.Done():
		return fmt.Errorf("node: %s: waiting for the node before it in the group: %w", n.name, n.ctx.Err())
	}
}

// inTurn is the node's EC2 endpoint for its ipamd: h, once the node's turn
// has come (awaitEC2Turn).
func (n *Node) inTurn(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := n.awaitEC2Turn(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}
