package enilabtest

import (
	"fmt"

	"github.com/onsi/gomega/types"

	"github.com/enilab/enilab/node"
)

// HaveWarmIPs matches a *Node with want addresses assigned to it and free
// for pods (ipamd's total minus assigned).
func HaveWarmIPs(want int) types.GomegaMatcher {
	return &figure{what: "warm IPs", want: want, get: func(s node.Status) int { return s.WarmIPs }}
}

// HaveENIs matches a *Node with want ENIs attached, the primary included.
func HaveENIs(want int) types.GomegaMatcher {
	return &figure{what: "ENIs", want: want, get: func(s node.Status) int { return s.ENIs }}
}

// HaveAssignedIPs matches a *Node whose ipamd has want addresses assigned
// to pods.
func HaveAssignedIPs(want int) types.GomegaMatcher {
	return &figure{what: "assigned IPs", want: want, get: func(s node.Status) int { return s.AssignedIPs }}
}

// HaveReadyPods matches a *Node with want pods ready.
func HaveReadyPods(want int) types.GomegaMatcher {
	return &figure{what: "ready pods", want: want, get: func(s node.Status) int { return s.ReadyPods }}
}

// figure matches one of a node's figures; its failure shows them all.
type figure struct {
	what string
	want int
	get  func(node.Status) int
	last node.Status
}

func (m *figure) Match(actual any) (bool, error) {
	n, ok := actual.(*Node)
	if !ok || n == nil {
		return false, fmt.Errorf("want a *enilabtest.Node, got %T", actual)
	}
	m.last = n.Status()
	return m.get(m.last) == m.want, nil
}

func (m *figure) FailureMessage(actual any) string {
	return fmt.Sprintf("Expected %s to have %d %s; its figures: %+v", nodeName(actual), m.want, m.what, m.last)
}

func (m *figure) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("Expected %s not to have %d %s; its figures: %+v", nodeName(actual), m.want, m.what, m.last)
}

func nodeName(actual any) string {
	if n, ok := actual.(*Node); ok && n != nil {
		return n.Name()
	}
	return fmt.Sprintf("%v", actual)
}

// BeReady matches a *Pod that is ready (its ADD succeeded and it has an
// address).
func BeReady() types.GomegaMatcher { return &ready{} }

type ready struct {
	last  node.PodStatus
	found bool
}

func (m *ready) Match(actual any) (bool, error) {
	p, ok := actual.(*Pod)
	if !ok || p == nil {
		return false, fmt.Errorf("want a *enilabtest.Pod, got %T", actual)
	}
	m.last, m.found = p.Status()
	return m.found && m.last.Phase == node.PhaseReady && m.last.IP.IsValid(), nil
}

func (m *ready) FailureMessage(actual any) string {
	if !m.found {
		return fmt.Sprintf("Expected pod %s to be ready; there is no such pod", podName(actual))
	}
	return fmt.Sprintf("Expected pod %s to be ready; it is %s: %s", podName(actual), m.last.Phase, m.last.Message)
}

func (m *ready) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("Expected pod %s not to be ready; it is, with %s", podName(actual), m.last.IP)
}

func podName(actual any) string {
	if p, ok := actual.(*Pod); ok && p != nil {
		return p.Name
	}
	return fmt.Sprintf("%v", actual)
}
