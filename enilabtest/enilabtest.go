// Package enilabtest builds enilab labs inside Go tests: fakeec2, one
// network namespace, ipamd and the CNI plugin per node, torn down by
// t.Cleanup, with gomega matchers for the figures a user asserts.
//
//	func TestMain(m *testing.M) { enilabtest.Main(m) }
//
//	func TestPool(t *testing.T) {
//		lab := enilabtest.New(t, enilabtest.Spec{Nodes: []node.Spec{{Name: "node-1", InstanceType: "c5.large"}}})
//		n := lab.Node("node-1")
//		n.AddPods(5)
//		lab.Eventually(n).Should(enilabtest.HaveWarmIPs(13))
//	}
//
// A lab needs root (network namespaces); New skips the test, saying so,
// when it does not have it.
package enilabtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"github.com/onsi/gomega/types"

	"github.com/enilab/enilab/cniplugin/multicall"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/node"
)

// Main is the test binary's TestMain. It builds enilab's aws-cni and
// egress-cni once with the go command, and the labs of the tests run them
// as a node runs its plugins (node.RunWithOwnPlugins). When they cannot be
// built, a lab runs the test binary itself as the plugin (under the name
// aws-cni), so the plugin's entry point comes first, then the tests.
func Main(m *testing.M) {
	multicall.RunIfPlugin()
	os.Exit(node.RunWithOwnPlugins(m.Run))
}

// Spec is a lab and its nodes. Lab's zero value works: New gives it one
// subnet (10.0.0.0/20 in us-west-2a) and a time scale of 0.05 (a lab
// second lasts 50 ms) when unset.
type Spec struct {
	Lab node.LabConfig
	// Nodes start as one node group (node.Lab.AddNodes).
	Nodes []node.Spec
}

// DefaultTimeScale is the lab's time scale when Spec.Lab sets none.
const DefaultTimeScale = 0.05

// Lab is a running lab owned by one test.
type Lab struct {
	t   testing.TB
	lab *node.Lab
	// Timeout bounds Eventually, in real time; default 30 s.
	Timeout time.Duration
}

// New builds the lab and its nodes, failing the test if it cannot, and
// registers its teardown (and a check that nothing is left behind) with
// t.Cleanup.
func New(t testing.TB, spec Spec) *Lab {
	t.Helper()
	if !nsutil.IsRoot() {
		t.Skip("enilabtest: a lab needs root (it is made of network namespaces)")
	}
	cfg := spec.Lab
	if cfg.TimeScale == 0 && cfg.Clock == nil {
		cfg.TimeScale = DefaultTimeScale
	}
	if len(cfg.Subnets) == 0 {
		cfg.Subnets = []node.SubnetSpec{{ID: "subnet-a", CIDR: "10.0.0.0/20", AZ: "us-west-2a"}}
	}
	ctx := context.Background()
	l, err := node.NewLab(ctx, cfg)
	if err != nil {
		t.Fatalf("enilabtest: build the lab: %v", err)
	}
	t.Cleanup(func() { closeLab(t, l) })
	_, errs := l.AddNodes(ctx, spec.Nodes)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("enilabtest: add node %s: %v", spec.Nodes[i].Name, err)
		}
	}
	return &Lab{t: t, lab: l, Timeout: 30 * time.Second}
}

func closeLab(t testing.TB, l *node.Lab) {
	if err := l.Close(); err != nil {
		t.Errorf("enilabtest: tear the lab down: %v", err)
	}
	left, err := node.Leftovers(l.Prefix())
	if err != nil {
		t.Errorf("enilabtest: look for leftovers: %v", err)
	} else if len(left) > 0 {
		t.Errorf("enilabtest: the lab left %v behind (`enilab sweep %s` removes them)", left, l.Prefix())
	}
}

// Raw is the node package's lab, for what this package does not wrap.
func (l *Lab) Raw() *node.Lab { return l.lab }

// Node returns the named node, failing the test if there is none.
func (l *Lab) Node(name string) *Node {
	l.t.Helper()
	n, ok := l.lab.Node(name)
	if !ok {
		l.t.Fatalf("enilabtest: no node %q", name)
	}
	return &Node{t: l.t, n: n}
}

// Nodes returns every node in creation order.
func (l *Lab) Nodes() []*Node {
	var out []*Node
	for _, n := range l.lab.Nodes() {
		out = append(out, &Node{t: l.t, n: n})
	}
	return out
}

// Pod returns a handle on the pod called "<node>/pod-<n>"; its figures are
// read when asked, so it can be waited on.
func (l *Lab) Pod(name string) *Pod { return &Pod{lab: l.lab, Name: name} }

// Eventually polls actual (a *Node, a *Pod or a function) until the matcher
// holds or Timeout passes, failing the test then.
func (l *Lab) Eventually(actual any) types.AsyncAssertion {
	return gomega.NewWithT(l.t).Eventually(actual).WithTimeout(l.Timeout).WithPolling(10 * time.Millisecond)
}
