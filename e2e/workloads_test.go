package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
	"github.com/enilab/enilab/scenario/nodelab"
)

var _ = Describe("Workloads", Label("workloads", "dummy"), func() {
	It("spreads a deployment over the least allocated nodes and leaves the rest Pending with kube-scheduler's message", func() {
		lab := newLab(node.LabConfig{})
		nodes := addNodes(lab, 2, "t3.medium") // max pods 3 × 5 + 2 = 17: 15 pods with addresses each
		ctx := context.Background()
		Expect(lab.Deploy(ctx, node.Deployment{Name: "busy", Replicas: 4})).To(Succeed())
		Expect(lab.Deploy(ctx, node.Deployment{Name: "web", Replicas: 30})).To(Succeed())

		// Least-allocated spread: 2 + 15 on each node.
		for _, n := range nodes {
			Eventually(readyPods(n)).Should(Equal(15), "node %s", n.Name())
		}
		pending := lab.UnscheduledPods()
		Expect(pending).To(HaveLen(4))
		Expect(pending[0].Message).To(Equal("FailedScheduling: 0/2 nodes are available: 2 Too many pods. " +
			"preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."))

		// Room appears: the busy pods leave and the pending ones start.
		Expect(lab.DeleteDeployment(ctx, "busy")).To(Succeed())
		Expect(lab.UnscheduledPods()).To(BeEmpty())
		for _, n := range nodes {
			Eventually(readyPods(n)).Should(Equal(15), "node %s", n.Name())
		}
	})

	It("keeps a pod Pending while aws-node is down, failing to dial ipamd's socket, then starts it", func() {
		lab := newLab(node.LabConfig{})
		n := addNode(lab, node.Spec{Name: "node-1", InstanceType: "m5.large"})
		Expect(n.StopIPAMDFor(60 * time.Second)).To(Succeed())
		Expect(n.IPAMDStatus().State).To(Equal(node.IPAMDStopped))
		addPods(n, 1)
		Eventually(func() string {
			p, _ := n.Pod("node-1/pod-1")
			return p.Message
		}).Should(ContainSubstring("connect: no such file or directory"))
		Eventually(readyPods(n)).Should(Equal(1), "ipamd is back and the kubelet's retry succeeds")
		Expect(n.IPAMDStatus().State).To(Equal(node.IPAMDRunning))
		Eventually(func() []node.IPAMDEvent { return n.IPAMDStatus().Events }).Should(ContainElement(
			HaveField("Message", "aws-node started again: ipamd serves its socket")), "the timeline says when aws-node came back")
	})

	It("rolls WARM_IP_TARGET out node by node, each pool changing when its aws-node restarts", func() {
		prefixMu.Lock()
		prefix := fmt.Sprintf("%s%x-%d", prefixFamily, os.Getpid()&0xfff, len(prefixes)+1)
		prefixes = append(prefixes, prefix)
		prefixMu.Unlock()
		src := fmt.Sprintf(`name: rollout
timeScale: %g
vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24, az: us-west-2a}]
nodes:
  - {name: node, count: 2, instanceType: c5.large, subnet: subnet-a}
steps:
  - {deploy: {name: web, replicas: 6}}
  - {expect: {node: node-1, readyPods: 3, totalIPs: 18}}
  - {expect: {node: node-2, readyPods: 3, totalIPs: 18}}
  - {ipamd: {set: {WARM_IP_TARGET: "2"}, rollout: {maxUnavailable: 1, minReadySeconds: 20}}}
  - {expect: {node: node-1, readyPods: 3, totalIPs: 5}}
  - {expect: {node: node-2, readyPods: 3, totalIPs: 5}}
`, timeScale)
		sc, err := scenario.Parse("rollout.yaml", []byte(src))
		Expect(err).NotTo(HaveOccurred())
		var out bytes.Buffer
		rep, err := scenario.Run(context.Background(), sc, scenario.Options{Out: &out, NewLab: nodelab.New, Lab: scenario.LabOptions{Prefix: prefix}})
		Expect(err).NotTo(HaveOccurred(), out.String())
		Expect(rep.Passed).To(BeTrue())
		Expect(out.String()).To(ContainSubstring("aws-node revision 2 (WARM_IP_TARGET=2) runs on node-1; revision 1 still on node-2"))
		Expect(out.String()).To(ContainSubstring("aws-node revision 2 (WARM_IP_TARGET=2) runs on node-1, node-2"))
		Expect(node.Leftovers(prefix)).To(BeEmpty())
	})
})
