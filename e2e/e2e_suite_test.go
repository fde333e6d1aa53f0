// Package e2e drives whole labs — fakeec2, VPC namespace, nodes with ipamd,
// pods wired by the real CNI plugin — through the failure patterns the VPC
// CNI is known for. Every spec runs on its own lab prefix; the suite fails
// if anything with one of those prefixes is left behind.
//
// Run: `go test ./e2e/...` or `make e2e` as root (specs skip otherwise).
// ENILAB_ENI_BACKEND=dummy runs the same specs on dummy ENI links, where the
// specs that need packets between nodes skip.
//
// Labels: every spec carries either `fabric` (it needs packets between
// nodes through the VPC namespace, so the veth backend) or `dummy` (it
// holds on dummy ENI links too); the VM runner (docs/VM.md) selects dummy
// runs with `!fabric`. Under software emulation (ENILAB_VM_ACCEL=tcg) the
// lab clock and every real-time wait run slowdown× slower, so lab-time
// bounds mean the same work as on a real CPU.
package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/format"

	"github.com/enilab/enilab/cniplugin/multicall"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/internal/vmenv"
	"github.com/enilab/enilab/node"
)

func TestMain(m *testing.M) {
	// The labs run the lab's own plugins, built once here
	// (node.RunWithOwnPlugins); without them, this binary re-executed
	// as aws-cni.
	multicall.RunIfPlugin()
	if nsutil.IsRoot() {
		// Labs of an earlier run that was killed (its cleanups never ran).
		_ = node.SweepStale(prefixFamily, 15*time.Minute)
	}
	os.Exit(node.RunWithOwnPlugins(m.Run))
}

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	// Errors from deep wrap chains print as their message, not as structs.
	format.MaxDepth = 2
	format.MaxLength = 4000
	RunSpecs(t, "enilab e2e")
}

// prefixFamily starts the prefix of every lab of this suite.
const prefixFamily = "enle-"

// slowdownEnv overrides slowdown (a number ≥ 1).
const slowdownEnv = "ENILAB_E2E_SLOWDOWN"

// slowdown is how much slower than a real CPU the suite runs: 1 on a host
// or under KVM, 10 under TCG (docs/VM.md: software emulation runs code
// 10–50× slower). It stretches the lab clock and the real-time waits alike.
var slowdown = func() float64 {
	if v, err := strconv.ParseFloat(os.Getenv(slowdownEnv), 64); err == nil && v >= 1 {
		return v
	}
	if vmenv.Emulated() {
		return 10
	}
	return 1
}()

// timeScale makes a lab minute last 1.2 s on a real CPU: ipamd's 5 s pool
// check runs every 100 ms, the 30 s IP cooldown lasts 0.6 s. Under
// emulation a lab second takes slowdown× longer, so ipamd's and the
// kubelet's lab-time timeouts and backoffs leave room for the same amount
// of work.
var timeScale = 0.02 * slowdown

// realTime is how long to wait, in real time, for what takes d on a real
// CPU.
func realTime(d time.Duration) time.Duration { return time.Duration(float64(d) * slowdown) }

var (
	prefixMu sync.Mutex
	prefixes []string
)

var _ = BeforeEach(func() {
	labels := CurrentSpecReport().Labels()
	Expect(slices.Contains(labels, "fabric")).NotTo(Equal(slices.Contains(labels, "dummy")),
		"a spec carries exactly one of the labels fabric and dummy (it has %v)", labels)
	if !nsutil.IsRoot() {
		Skip("needs root: labs live in network namespaces")
	}
	SetDefaultEventuallyTimeout(realTime(60 * time.Second))
	SetDefaultEventuallyPollingInterval(20 * time.Millisecond)
	// A second on a real CPU is 50 lab seconds (ten pool checks); the same
	// lab span under emulation.
	SetDefaultConsistentlyDuration(realTime(time.Second))
	SetDefaultConsistentlyPollingInterval(50 * time.Millisecond)
})

// newLab starts a lab on a fresh "enle-" prefix, closes it when the spec
// ends (pass or fail, and on interrupt: ginkgo runs cleanups then) and
// checks nothing with the prefix remains.
func newLab(cfg node.LabConfig) *node.Lab {
	GinkgoHelper()
	prefixMu.Lock()
	cfg.Prefix = fmt.Sprintf("%s%x-%d", prefixFamily, os.Getpid()&0xfff, len(prefixes)+1)
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
	removeEnilabBin()
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

func addNode(lab *node.Lab, spec node.Spec) *node.Node {
	GinkgoHelper()
	n, err := lab.AddNode(context.Background(), spec)
	Expect(err).NotTo(HaveOccurred())
	return n
}

func addNodes(lab *node.Lab, count int, instanceType string) []*node.Node {
	GinkgoHelper()
	var out []*node.Node
	for i := 1; i <= count; i++ {
		out = append(out, addNode(lab, node.Spec{Name: fmt.Sprintf("node-%d", i), InstanceType: instanceType}))
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

// needTraffic skips the spec on a backend without a VPC fabric. Such a
// spec must carry the fabric label, or the VM runner's dummy runs
// (`!fabric`) would select it only to skip it; this fails it otherwise.
func needTraffic(lab *node.Lab) {
	GinkgoHelper()
	Expect(CurrentSpecReport().Labels()).To(ContainElement("fabric"),
		"a spec that needs traffic between nodes carries the fabric label")
	if lab.Backend() != node.BackendVeth {
		Skip("the " + lab.Backend() + " ENI backend carries no traffic between nodes")
	}
}

func ping(lab *node.Lab, from, to string) error {
	ctx, cancel := context.WithTimeout(context.Background(), realTime(10*time.Second))
	defer cancel()
	return lab.Ping(ctx, from, to)
}
