package e2e

import (
	"context"
	"errors"
	"net"
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/node"
)

// twoNodes is node-1 with 12 pods (at least 3 on its second ENI, whose
// first 9 addresses fill the primary ENI) and node-2 with 2.
func twoNodes(cfg node.LabConfig) (*node.Lab, *node.Node, *node.Node) {
	GinkgoHelper()
	lab := newLab(cfg)
	needTraffic(lab)
	nodes := addNodes(lab, 2, "m5.large")
	addPods(nodes[0], 12)
	addPods(nodes[1], 2)
	Eventually(readyPods(nodes[0])).Should(Equal(12))
	Eventually(readyPods(nodes[1])).Should(Equal(2))
	return lab, nodes[0], nodes[1]
}

var _ = Describe("Pod connectivity", Label("datapath", "fabric"), func() {
	It("reaches pods on the same node and across nodes, secondary-ENI pods included", func() {
		lab, n1, n2 := twoNodes(node.LabConfig{})
		Expect(ping(lab, "node-1/pod-1", "node-1/pod-2")).To(Succeed(), "same node")
		Expect(ping(lab, "node-1/pod-1", "node-2/pod-1")).To(Succeed(), "across nodes")
		Expect(ping(lab, "node-2/pod-2", "node-1/pod-1")).To(Succeed(), "across nodes, back")

		secondary := podsOnSecondaryENIs(lab, n1)
		Expect(secondary).NotTo(BeEmpty(), "12 pods do not fit the primary ENI")
		for _, p := range secondary {
			Expect(ping(lab, p.Name, "node-2/pod-1")).To(Succeed(), "%s (%s, secondary ENI) → node-2", p.Name, p.IP)
			Expect(ping(lab, "node-2/pod-2", p.Name)).To(Succeed(), "node-2 → %s (secondary ENI)", p.Name)
			Expect(ping(lab, p.Name, "node-1/pod-1")).To(Succeed(), "%s → same node", p.Name)
		}
		expectNoDuplicateIPs(n1, n2)
	})

	It("drops a secondary-ENI pod's traffic when its 1536 rule is gone, CHECK names it, re-adding the pod restores it", Label("asymmetric-routing"), func() {
		lab, n1, _ := twoNodes(node.LabConfig{})
		secondary := podsOnSecondaryENIs(lab, n1)
		Expect(secondary).NotTo(BeEmpty())
		victim := secondary[0]
		Expect(ping(lab, victim.Name, "node-2/pod-1")).To(Succeed())
		Expect(n1.CheckPod(context.Background(), victim.Name)).To(Succeed(), "CHECK passes while the pod is intact")

		deleted := deleteFromRule(n1, victim.IP.String(), 1536)
		Expect(deleted).To(Equal(1), "the pod had exactly one priority-1536 rule")

		err := ping(lab, victim.Name, "node-2/pod-1")
		Expect(errors.Is(err, node.ErrNoReply)).To(BeTrue(),
			"leaving by eth0 with a source EC2 assigned to eth1, the packets vanish in the VPC: %v", err)
		Expect(ping(lab, victim.Name, "node-1/pod-1")).To(Succeed(), "same-node traffic never leaves the node")

		err = n1.CheckPod(context.Background(), victim.Name)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("1536"), "CHECK names the missing rule")

		Expect(n1.DeletePod(context.Background(), victim.Name)).To(Succeed())
		addPods(n1, 1)
		Eventually(readyPods(n1)).Should(Equal(12))
		newest := n1.Pods()[len(n1.Pods())-1]
		// ipamd hands out addresses in device order and the primary ENI is
		// full, so the re-added pod lands on a secondary ENI again: its
		// packets cross the VPC only if ADD gave it a 1536 rule.
		e, ok := eniOf(lab, n1, newest.IP)
		Expect(ok && e.DeviceIndex > 0).To(BeTrue(), "the re-added pod %s (%s) sits on a secondary ENI", newest.Name, newest.IP)
		Expect(ping(lab, newest.Name, "node-2/pod-1")).To(Succeed(), "the re-added pod (%s) gets its rules back", newest.IP)
		for _, p := range podsOnSecondaryENIs(lab, n1) {
			Expect(ping(lab, p.Name, "node-2/pod-1")).To(Succeed(), p.Name)
		}
	})
})

// deleteFromRule removes the "from <ip> lookup … priority prio" rules in
// the node namespace, as an operator's stray `ip rule del` would.
func deleteFromRule(n *node.Node, ip string, prio int) int {
	GinkgoHelper()
	h, err := nsutil.Handle(n.NetNS())
	Expect(err).NotTo(HaveOccurred())
	defer h.Close()
	rules, err := nsutil.Retry(func() ([]netlink.Rule, error) { return h.RuleList(unix.AF_INET) })
	Expect(err).NotTo(HaveOccurred())
	deleted := 0
	for _, r := range rules {
		if r.Priority == prio && r.Src != nil && r.Src.IP.Equal(net.ParseIP(ip)) {
			Expect(h.RuleDel(&r)).To(Succeed(), "delete rule %s prio %s", ip, strconv.Itoa(prio))
			deleted++
		}
	}
	return deleted
}
