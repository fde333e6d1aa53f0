package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/enilab/enilab/node"
)

var _ = Describe("Warm pool", Label("warm-pool", "dummy"), func() {
	It("keeps 43 warm IPs on three c5.large nodes with one pod on two of them", func() {
		lab := newLab(node.LabConfig{})
		nodes := addNodes(lab, 3, "c5.large")
		addPods(nodes[0], 1)
		addPods(nodes[1], 1)

		// WARM_ENI_TARGET=1: a node with a pod keeps a whole spare ENI
		// (2 ENIs × 9 = 18), the idle node just its primary ENI's 9.
		want := []pool{{ENIs: 2, Total: 18, Assigned: 1}, {ENIs: 2, Total: 18, Assigned: 1}, {ENIs: 1, Total: 9, Assigned: 0}}
		for i, n := range nodes {
			Eventually(observed).WithArguments(n).Should(Equal(want[i]), "node %s", n.Name())
		}
		Consistently(func() int {
			warm := 0
			for _, n := range nodes {
				p, err := observed(n)
				if err != nil {
					return -1
				}
				warm += p.Warm()
			}
			return warm
		}).Should(Equal(43), "the warm pool holds steady at 17+17+9")
	})

	DescribeTable("m5.large pool sizing from introspection and metrics",
		func(env map[string]string, pods int, want pool) {
			lab := newLab(node.LabConfig{IPAMDEnv: env})
			n := addNode(lab, node.Spec{Name: "node-1", InstanceType: "m5.large"})
			addPods(n, pods)
			Eventually(readyPods(n)).Should(Equal(pods))
			Eventually(observed).WithArguments(n).Should(Equal(want))
			Consistently(observed).WithArguments(n).Should(Equal(want), "the pool settles there")
		},
		Entry("defaults, idle: the primary ENI's 9", nil, 0, pool{ENIs: 1, Total: 9}),
		Entry("defaults, 5 pods: a whole spare ENI", nil, 5, pool{ENIs: 2, Total: 18, Assigned: 5}),
		Entry("WARM_IP_TARGET=5, idle", map[string]string{"WARM_IP_TARGET": "5"}, 0, pool{ENIs: 1, Total: 5}),
		Entry("WARM_IP_TARGET=5, 3 pods: 5 spare", map[string]string{"WARM_IP_TARGET": "5"}, 3, pool{ENIs: 1, Total: 8, Assigned: 3}),
		Entry("MINIMUM_IP_TARGET=12, idle: 12 across two ENIs", map[string]string{"MINIMUM_IP_TARGET": "12"}, 0, pool{ENIs: 2, Total: 12}),
		Entry("WARM_IP_TARGET=2 + MINIMUM_IP_TARGET=12, 11 pods", map[string]string{"WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "12"}, 11, pool{ENIs: 2, Total: 13, Assigned: 11}),
	)
})

var _ = Describe("Max pods", Label("max-pods", "dummy"), func() {
	It("runs 27 pods on an m5.large and rejects pod 28: the wall is IP slots", func() {
		lab := newLab(node.LabConfig{})
		n := addNode(lab, node.Spec{Name: "node-1", InstanceType: "m5.large"})
		Expect(n.Status().MaxPods).To(Equal(29), "3 ENIs × 9 + 2 host-network pods")
		addPods(n, 28)
		Eventually(readyPods(n)).Should(Equal(27))
		p, ok := n.Pod("node-1/pod-28")
		Expect(ok).To(BeTrue())
		Expect(p.Phase).To(Equal(node.PhaseRejected))
		Expect(p.Message).To(ContainSubstring("maxPods 29"))
		Eventually(observed).WithArguments(n).Should(Equal(pool{ENIs: 3, Total: 27, Assigned: 27}))
		st := n.Status()
		Expect(st.RejectedPods).To(Equal(1))
		Expect(st.PendingPods).To(Equal(0))
	})

	It("runs 108 pods on a prefix-delegation m5.large (max pods 110)", Label("prefix-delegation"), func() {
		lab := newLab(node.LabConfig{
			Subnets:  []node.SubnetSpec{{ID: "subnet-a", CIDR: "10.0.0.0/20", AZ: "us-west-2a"}},
			IPAMDEnv: map[string]string{"ENABLE_PREFIX_DELEGATION": "true"},
		})
		n := addNode(lab, node.Spec{Name: "node-1", InstanceType: "m5.large"})
		Eventually(func() int { return n.Status().MaxPods }).Should(Equal(110))
		addPods(n, 109)
		Eventually(readyPods(n), realTime(120*time.Second)).Should(Equal(108))
		p, _ := n.Pod("node-1/pod-109")
		Expect(p.Phase).To(Equal(node.PhaseRejected))
		st := n.Status()
		Expect(st.Prefixes).To(BeNumerically(">=", 7), "108 addresses take at least 7 /28 prefixes")
		Expect(st.TotalIPs).To(Equal(st.Prefixes * 16))
		expectNoDuplicateIPs(n)
	})
})
