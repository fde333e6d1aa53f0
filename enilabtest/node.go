package enilabtest

import (
	"context"
	"testing"

	"github.com/enilab/enilab/node"
)

// Node is one node of a test's lab.
type Node struct {
	t testing.TB
	n *node.Node
}

// Name is the node's name.
func (n *Node) Name() string { return n.n.Name() }

// Raw is the node package's node, for what this package does not wrap.
func (n *Node) Raw() *node.Node { return n.n }

// Status is the node's figures now: ENIs, addresses, pods by phase.
func (n *Node) Status() node.Status { return n.n.Status() }

// AddPods creates count pods; they become ready (or stay pending) in the
// background, as a kubelet's do.
func (n *Node) AddPods(count int) {
	n.t.Helper()
	if err := n.n.AddPods(context.Background(), count); err != nil {
		n.t.Fatalf("enilabtest: add %d pods on %s: %v", count, n.Name(), err)
	}
}

// DeletePod deletes the pod called "<node>/pod-<n>" (CNI DEL, then its
// namespace).
func (n *Node) DeletePod(name string) {
	n.t.Helper()
	if err := n.n.DeletePod(context.Background(), name); err != nil {
		n.t.Fatalf("enilabtest: delete pod %s: %v", name, err)
	}
}

// Pods returns the node's pods in creation order.
func (n *Node) Pods() []node.PodStatus { return n.n.Pods() }

// Pod is a handle on one pod.
type Pod struct {
	lab  *node.Lab
	Name string
}

// Status is the pod's state now; ok is false while no such pod exists.
func (p *Pod) Status() (st node.PodStatus, ok bool) { return p.lab.Pod(p.Name) }
