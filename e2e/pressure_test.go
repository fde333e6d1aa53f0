package e2e

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/enilab/enilab/fakeec2/chaos"
	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/node"
)

// smallSubnet has 32 − 5 = 27 addresses EC2 can hand out.
var smallSubnet = []node.SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/27", AZ: "us-west-2a"}}

var _ = Describe("Subnet exhaustion", Label("subnet-exhaustion", "dummy"), func() {
	// node-1 (m5.large) runs one pod. With WARM_ENI_TARGET=1 it holds two
	// full ENIs: 20 of the subnet's 27 addresses, 18 of them idle. node-2
	// then launches into what is left.
	It("starves a new node when warm ENIs hoard the subnet", func() {
		lab := newLab(node.LabConfig{Subnets: smallSubnet})
		n1 := addNode(lab, node.Spec{Name: "node-1", InstanceType: "m5.large"})
		addPods(n1, 1)
		Eventually(observed).WithArguments(n1).Should(Equal(pool{ENIs: 2, Total: 18, Assigned: 1}))

		n2 := addNode(lab, node.Spec{Name: "node-2", InstanceType: "m5.large"})
		addPods(n2, 8)
		Eventually(func() int { return lab.EC2Counters().Errors["InsufficientFreeAddressesInSubnet"] }).Should(BeNumerically(">=", 1),
			"node-2's ipamd is told the subnet is exhausted")
		// 27 − 20 − node-2's primary = 6 addresses at most for node-2's pods.
		Consistently(func() int { return n2.Status().ReadyPods }, realTime(2*time.Second)).Should(BeNumerically("<=", 6))
		Expect(n2.Status().PendingPods).To(BeNumerically(">=", 2), "pods wait for addresses that idle elsewhere")
		Expect(n1.Status().WarmIPs).To(Equal(17), "while node-1 keeps 17 idle")
	})

	It("leaves room for the new node with WARM_IP_TARGET and MINIMUM_IP_TARGET", func() {
		lab := newLab(node.LabConfig{Subnets: smallSubnet})
		n1 := addNode(lab, node.Spec{Name: "node-1", InstanceType: "m5.large",
			IPAMDEnv: map[string]string{"WARM_IP_TARGET": "1", "MINIMUM_IP_TARGET": "2"}})
		addPods(n1, 1)
		Eventually(observed).WithArguments(n1).Should(Equal(pool{ENIs: 1, Total: 2, Assigned: 1}))
		Eventually(func() int { s, _ := lab.EC2().Subnet("subnet-a"); return s.Free }).Should(Equal(24))

		n2 := addNode(lab, node.Spec{Name: "node-2", InstanceType: "m5.large"})
		addPods(n2, 8)
		Eventually(readyPods(n2)).Should(Equal(8), "node-2 gets every address it needs")
		expectNoDuplicateIPs(n1, n2)
	})
})

var _ = Describe("EC2 throttling", Label("throttling", "dummy"), func() {
	It("holds a 30-pod burst pending during a throttling window and readies every pod after it", func() {
		clk := clock.NewScaled(timeScale, node.LabEpoch)
		ctl, err := chaos.New(chaos.Config{Clock: clk, Seed: 1, Throttle: chaos.ThrottleNone})
		Expect(err).NotTo(HaveOccurred())
		lab := newLab(node.LabConfig{Clock: clk, Interceptor: ctl})
		// m5.xlarge: 4 ENIs × 14 secondary IPs, max pods 58.
		n := addNode(lab, node.Spec{Name: "node-1", InstanceType: "m5.xlarge"})
		Eventually(observed).WithArguments(n).Should(Equal(pool{ENIs: 1, Total: 14}))

		const window = 250 * time.Second // lab time: 5 s real on a real CPU
		start := clk.Now()
		_, err = ctl.AddRule(chaos.Rule{Name: "burst", Kind: chaos.KindThrottle, Percentage: 100, Duration: window,
			Operations: []string{"AssignPrivateIpAddresses", "CreateNetworkInterface", "AttachNetworkInterface"}})
		Expect(err).NotTo(HaveOccurred())
		addPods(n, 30)
		// A fifth of the window (50 lab seconds, ten pool checks): only the
		// 14 warm addresses are handed out, the other pods wait.
		Consistently(func() int { return n.Status().PendingPods }, realTime(time.Second)).Should(BeNumerically(">=", 16),
			"no new addresses while EC2 throttles")

		Eventually(readyPods(n), realTime(60*time.Second)).Should(Equal(30), "all ready once the window closes")
		end := start.Add(window)
		var during, after int
		var slowest time.Duration
		for _, p := range n.Pods() {
			if p.Created.Add(p.ReadyLatency).Before(end) {
				during++
			} else {
				after++
			}
			slowest = max(slowest, p.ReadyLatency)
		}
		Expect(during).To(BeNumerically("<=", 14), "only the warm pool's 14 addresses were handed out during the window")
		Expect(after).To(BeNumerically(">=", 16), "the other pods waited it out")
		Expect(slowest).To(BeNumerically(">=", end.Sub(n.Pods()[29].Created)), "readiness latency rose to the end of the window")

		Expect(ctl.Counters().FaultsInjected).To(BeNumerically(">=", 1))
		throttled := 0
		for _, r := range ctl.Trace() {
			if r.Fault == "burst" {
				throttled++
			}
		}
		Expect(throttled).To(BeNumerically(">=", 1), "the trace shows the throttled calls")
		Expect(lab.EC2Counters().Errors["RequestLimitExceeded"]).To(BeNumerically(">=", 1))
	})
})

var _ = Describe("ipamd restart", Label("restart", "fabric"), func() {
	It("keeps running pods connected, gives no address twice, and starts new pods after recovery", func() {
		lab, n1, n2 := twoNodes(node.LabConfig{})

		var (
			stop     atomic.Bool
			failures []error
			rounds   atomic.Int32
			mu       sync.Mutex
			wg       sync.WaitGroup
		)
		secondary := podsOnSecondaryENIs(lab, n1)
		Expect(secondary).NotTo(BeEmpty())
		pairs := [][2]string{{"node-1/pod-1", "node-2/pod-1"}, {secondary[0].Name, "node-2/pod-2"}, {"node-1/pod-2", "node-1/pod-3"}}
		wg.Add(1)
		go func() {
			defer GinkgoRecover()
			defer wg.Done()
			for !stop.Load() {
				for _, p := range pairs {
					if err := ping(lab, p[0], p[1]); err != nil {
						mu.Lock()
						failures = append(failures, err)
						mu.Unlock()
					}
				}
				rounds.Add(1)
			}
		}()
		Eventually(rounds.Load).Should(BeNumerically(">=", 2))
		Expect(n1.RestartIPAMD(context.Background())).To(Succeed())
		before := rounds.Load()
		Eventually(rounds.Load).Should(BeNumerically(">=", before+3))

		addPods(n1, 3)
		Eventually(readyPods(n1)).Should(Equal(15), "new pods start after recovery")
		stop.Store(true)
		wg.Wait()
		Expect(failures).To(BeEmpty(), "connectivity never broke")
		expectNoDuplicateIPs(n1, n2)
		Eventually(func() int { return n1.Status().AssignedIPs }).Should(Equal(15), "the restored datastore knows every running pod")
	})
})
