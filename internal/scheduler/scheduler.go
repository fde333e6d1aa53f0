// Package scheduler is the lab's pod placement, kube-scheduler's default
// profile reduced to what decides where pods go on an EKS node group with
// the VPC CNI: a node that is not Ready is tainted, a node selector must
// match, a node holds at most maxPods pods (host-network pods count), and
// among the nodes left the least allocated wins. It is pure: the caller
// passes the nodes as they are now and binds the pod itself.
package scheduler

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Reasons a node is filtered out, in kube-scheduler's wording (its
// TaintToleration, NodeAffinity and NodeResourcesFit filters, which run in
// that order; the first that fails is the node's reason).
const (
	ReasonNotReady    = "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"
	ReasonSelector    = "node(s) didn't match Pod's node affinity/selector"
	ReasonTooManyPods = "Too many pods"
)

// Node is one node as the scheduler sees it.
type Node struct {
	Name   string
	Labels map[string]string
	// Ready is false while the node has not joined (kubelet not posting
	// Ready): the not-ready taint keeps pods off it.
	Ready bool
	// MaxPods is the node's allocatable pods; Pods how many are bound to
	// it, host-network pods included.
	MaxPods int
	Pods    int
}

// Pod is what the scheduler reads of a pod.
type Pod struct {
	NodeSelector map[string]string
}

// FitError is a pod that fits no node: kube-scheduler's event message.
type FitError struct {
	Nodes int
	// Reasons counts the nodes per reason.
	Reasons map[string]int
}

// Error is kube-scheduler's FitError message with its preemption tail, as
// `kubectl describe pod` shows it in the FailedScheduling event:
// "0/2 nodes are available: 2 Too many pods. preemption: 0/2 nodes are
// available: 2 No preemption victims found for incoming pod."
func (e *FitError) Error() string {
	msg := fmt.Sprintf("0/%d nodes are available", e.Nodes)
	if e.Nodes == 0 {
		return msg + "."
	}
	msg += ": " + histogram(e.Reasons) + "."
	// Preemption: every lab pod has the same priority, so nodes full of
	// pods have no victims, and nodes that fail for another reason are
	// not helped by evicting anything.
	pre := map[string]int{}
	for r, n := range e.Reasons {
		if r == ReasonTooManyPods {
			pre["No preemption victims found for incoming pod"] += n
		} else {
			pre["Preemption is not helpful for scheduling"] += n
		}
	}
	return msg + fmt.Sprintf(" preemption: 0/%d nodes are available: %s.", e.Nodes, histogram(pre))
}

// histogram is "N reason" per reason, sorted as strings (as
// kube-scheduler's sortReasonsHistogram does).
func histogram(reasons map[string]int) string {
	parts := make([]string, 0, len(reasons))
	for _, r := range slices.Sorted(maps.Keys(reasons)) {
		parts = append(parts, fmt.Sprintf("%d %s", reasons[r], r))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// Schedule picks the node for p: the feasible node with the highest
// least-allocated score (free pod slots over allocatable, 0–100 as
// kube-scheduler's scores); ties go to the earliest node in nodes, where
// kube-scheduler picks at random among them. It returns *FitError when no
// node fits.
func Schedule(p Pod, nodes []Node) (string, error) {
	best, bestScore := -1, -1
	reasons := map[string]int{}
	for i, n := range nodes {
		if r := filter(p, n); r != "" {
			reasons[r]++
			continue
		}
		if s := score(n); s > bestScore {
			best, bestScore = i, s
		}
	}
	if best < 0 {
		return "", &FitError{Nodes: len(nodes), Reasons: reasons}
	}
	return nodes[best].Name, nil
}

// filter returns why n cannot take p, "" when it can.
func filter(p Pod, n Node) string {
	if !n.Ready {
		return ReasonNotReady
	}
	if !Matches(p.NodeSelector, n.Labels) {
		return ReasonSelector
	}
	if n.Pods >= n.MaxPods {
		return ReasonTooManyPods
	}
	return ""
}

// score is the least-allocated score of the pods resource: the share of
// the node's pod slots still free, 0–100.
func score(n Node) int {
	if n.MaxPods <= 0 {
		return 0
	}
	return (n.MaxPods - n.Pods) * 100 / n.MaxPods
}

// Matches reports whether a node with these labels satisfies the
// selector (validate uses it on node groups).
func Matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
