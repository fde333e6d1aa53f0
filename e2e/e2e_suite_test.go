// Package e2e drives whole labs — fakeec2, VPC namespace, nodes with ipamd,
// pods wired by the real CNI plugin — through the failure patterns the VPC
// CNI is known for. Every spec runs on its own lab prefix; the suite fails
// if anything with one of those prefixes is left behind.
//
// Run: `go test ./e2e/...` or `make e2e` as root (specs skip otherwise).
// ENILAB_ENI_BACKEND=dummy runs the same specs on dummy ENI links, where the
// specs that need packets between nodes skip.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/format"

	"github.com/enilab/enilab/cniplugin"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/node"
)

func TestMain(m *testing.M) {
	// The labs run the CNI plugin by re-executing this binary as aws-cni.
	if filepath.Base(os.Args[0]) == "aws-cni" {
		cniplugin.Main()
		return
	}
	os.Exit(m.Run())
}

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	// Errors from deep wrap chains print as their message, not as structs.
	format.MaxDepth = 2
	format.MaxLength = 4000
	RunSpecs(t, "enilab e2e")
}

// timeScale makes a lab minute last 1.2 s: ipamd's 5 s pool check runs
// every 100 ms, the 30 s IP cooldown lasts 0.6 s.
const timeScale = 0.02

var (
	prefixMu sync.Mutex
	prefixes []string
)

var _ = BeforeEach(func() {
	if !nsutil.IsRoot() {
		Skip("needs root: labs live in network namespaces")
	}
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(20 * time.Millisecond)
	SetDefaultConsistentlyDuration(time.Second)
	SetDefaultConsistentlyPollingInterval(50 * time.Millisecond)
})

// newLab starts a lab on a fresh "enle-" prefix, closes it when the spec
// ends (pass or fail, and on interrupt: ginkgo runs cleanups then) and
// checks nothing with the prefix remains.
func newLab(cfg node.LabConfig) *node.Lab {
	GinkgoHelper()
	prefixMu.Lock()
	cfg.Prefix = fmt.Sprintf("enle-%x-%d", os.Getpid()&0xfff, len(prefixes)+1)
	prefixes = append(prefixes, cfg.Prefix)
	prefixMu.Unlock()
	Expect(node.Sweep(cfg.Prefix)).To(Succeed())
	if cfg.TimeScale == 0 && cfg.Clock == nil {
		cfg.TimeScale = timeScale
	}
	if cfg.Seed == 0 {
		cfg.Seed = 42
	}
	if len(cfg.Subnets) == 0 {
		cfg.Subnets = []node.SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"}}
	}
	lab, err := node.NewLab(context.Background(), cfg)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		Expect(lab.Close()).To(Succeed())
		Expect(node.Leftovers(cfg.Prefix)).To(BeEmpty(), "lab %s left things behind", cfg.Prefix)
	})
	return lab
}

// The suite-level check: nothing of any spec's lab remains — netns, links,
// netns mounts, temp dirs with their sockets — and the root namespace is
// as it was.
var _ = AfterSuite(func() {
	expectRootUnchanged()
	prefixMu.Lock()
	defer prefixMu.Unlock()
	var left []string
	for _, p := range prefixes {
		l, err := node.Leftovers(p)
		Expect(err).NotTo(HaveOccurred())
		left = append(left, l...)
	}
	Expect(left).To(BeEmpty(), "labs left things behind")
})

func addNode(lab *node.Lab, spec node.NodeSpec) *node.Node {
	GinkgoHelper()
	n, err := lab.AddNode(context.Background(), spec)
	Expect(err).NotTo(HaveOccurred())
	return n
}

func addNodes(lab *node.Lab, count int, instanceType string) []*node.Node {
	GinkgoHelper()
	var out []*node.Node
	for i := 1; i <= count; i++ {
		out = append(out, addNode(lab, node.NodeSpec{Name: fmt.Sprintf("node-%d", i), InstanceType: instanceType}))
	}
	return out
}

func addPods(n *node.Node, count int) {
	GinkgoHelper()
	Expect(n.AddPods(context.Background(), count)).To(Succeed())
}

func readyPods(n *node.Node) func() int {
	return func() int { return n.Status().ReadyPods }
}

func needTraffic(lab *node.Lab) {
	if lab.Backend() != node.BackendVeth {
		Skip("the " + lab.Backend() + " ENI backend carries no traffic between nodes")
	}
}

func ping(lab *node.Lab, from, to string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return lab.Ping(ctx, from, to)
}
