package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
	"github.com/enilab/enilab/scenario/nodelab"
)

var _ = Describe("Egress", Label("egress", "fabric"), func() {
	It("maps a node's primary address 1:1 at the internet gateway, drops an unmapped pod address, and egresses a private subnet through its NAT gateway", func() {
		lab := newLab(node.LabConfig{
			Subnets: []node.SubnetSpec{
				{ID: "subnet-pub", CIDR: "10.0.1.0/24", AZ: "us-west-2a", Public: true},
				{ID: "subnet-priv", CIDR: "10.0.2.0/24", AZ: "us-west-2a", NATGateway: true},
			},
			// No SNAT whatever ipamd installs: pods leave with their own address.
			IPAMDEnv: map[string]string{"AWS_VPC_K8S_CNI_EXTERNALSNAT": "true"},
		})
		needTraffic(lab)
		pub := addNode(lab, node.Spec{Name: "node-1", InstanceType: "t3.nano", Subnet: "subnet-pub"})
		priv := addNode(lab, node.Spec{Name: "node-2", InstanceType: "t3.nano", Subnet: "subnet-priv"})
		addPods(pub, 1)
		addPods(priv, 1)
		Eventually(readyPods(pub)).Should(Equal(1))
		Eventually(readyPods(priv)).Should(Equal(1))
		inst, _ := lab.EC2().Instance(pub.InstanceID())
		nat := lab.NATGateways()
		Expect(nat).To(HaveLen(1))

		ctx := context.Background()
		Expect(lab.Curl(ctx, "node-1")).To(Equal(inst.PublicIP), "the primary address leaves as the instance's public address")
		Expect(lab.PingInternet(ctx, "node-1")).To(Succeed())
		_, err := lab.Curl(ctx, "node-1/pod-1")
		Expect(err).To(MatchError(node.ErrNoReply), "no public mapping for the pod's address: dropped at the internet gateway")
		Expect(lab.Curl(ctx, "node-2/pod-1")).To(Equal(nat[0].PublicIP), "a private subnet leaves as its NAT gateway's Elastic IP")

		ruleset := inNS(lab.Prefix()+"-igw", "nft", "list", "ruleset")
		Expect(ruleset).To(ContainSubstring("table ip "+node.IGWTable), "the internet gateway's NAT is an nft table in its own namespace")
		Expect(ruleset).To(ContainSubstring("snat to " + inst.PublicIP.String()))
	})

	It("runs scenarios/external-snat-natgw.yaml: external SNAT in a private subnet egresses as the NAT gateway", func() {
		runScenario("external-snat-natgw")
	})

	It("runs scenarios/egress-snat.yaml: a secondary-ENI pod egresses as the node's public address, times out with SNAT off", func() {
		needIPAMDSNAT()
		runScenario("egress-snat")
	})

	It("runs scenarios/custom-networking-egress.yaml: a 100.64 pod egresses as the node's public address", func() {
		needIPAMDSNAT()
		runScenario("custom-networking-egress")
	})
})

// runScenario runs a built-in scenario on an enle- prefix (so the suite's
// leftover check covers it) and expects every step to pass.
func runScenario(name string) {
	GinkgoHelper()
	sc, err := scenario.Load("../scenarios/" + name + ".yaml")
	Expect(err).NotTo(HaveOccurred())
	prefix := nextPrefix()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), realTime(5*time.Minute))
	defer cancel()
	_, err = scenario.Run(ctx, sc, scenario.Options{Out: &out, NewLab: nodelab.New, Lab: scenario.LabOptions{Prefix: prefix}})
	Expect(err).NotTo(HaveOccurred(), "timeline:\n%s", out.String())
	Expect(node.Leftovers(prefix)).To(BeEmpty())
}

func nextPrefix() string {
	prefixMu.Lock()
	defer prefixMu.Unlock()
	p := fmt.Sprintf("%s%x-%d", prefixFamily, os.Getpid()&0xfff, len(prefixes)+1)
	prefixes = append(prefixes, p)
	return p
}

func inNS(name string, args ...string) string {
	GinkgoHelper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", name}, args...)...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "%v: %s", args, out)
	return string(out)
}

var (
	snatOnce sync.Once
	snatHere bool
)

// needIPAMDSNAT skips a spec whose scenario needs ipamd's SNAT rule
// (AWS-SNAT-CHAIN-0) on a build whose ipamd installs none yet.
func needIPAMDSNAT() {
	GinkgoHelper()
	snatOnce.Do(func() {
		lab := newLab(node.LabConfig{})
		n := addNode(lab, node.Spec{Name: "node-1", InstanceType: "t3.nano"})
		out, err := exec.Command("ip", "netns", "exec", n.NetNSName(), "iptables", "-t", "nat", "-S").CombinedOutput()
		snatHere = err == nil && strings.Contains(string(out), "AWS-SNAT-CHAIN-0")
	})
	if !snatHere {
		Skip("this build's ipamd installs no SNAT rules (no AWS-SNAT-CHAIN-0 in a node's nat table)")
	}
}
