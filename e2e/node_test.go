package e2e

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/awscli"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/config"
	"github.com/enilab/enilab/node"
)

var _ = Describe("Custom networking", Label("custom-networking", "fabric"), func() {
	It("gives pods addresses from the 100.64 ENIConfig subnet that reach pods on other nodes", func() {
		lab := newLab(node.LabConfig{
			VPC: node.VPCSpec{CIDR: "10.0.0.0/16", SecondaryCIDRs: []string{"100.64.0.0/16"}},
			Subnets: []node.SubnetSpec{
				{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"},
				{ID: "subnet-pods", CIDR: "100.64.0.0/19", AZ: "us-west-2a"},
			},
			ENIConfigs: []config.ENIConfig{{Name: "us-west-2a", Subnet: "subnet-pods", SecurityGroups: []string{"sg-1"}}},
			IPAMDEnv: map[string]string{
				"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true",
				"ENI_CONFIG_LABEL_DEF":               "topology.kubernetes.io/zone",
			},
		})
		needTraffic(lab)
		nodes := addNodes(lab, 2, "m5.large")
		Expect(nodes[0].Status().MaxPods).To(Equal(20), "(3−1) ENIs × 9 + 2: the primary ENI holds no pods")
		addPods(nodes[0], 3)
		addPods(nodes[1], 3)
		Eventually(readyPods(nodes[0])).Should(Equal(3))
		Eventually(readyPods(nodes[1])).Should(Equal(3))
		pods := netip.MustParsePrefix("100.64.0.0/19")
		for _, n := range nodes {
			for _, p := range n.Pods() {
				Expect(pods.Contains(p.IP)).To(BeTrue(), "%s got %s", p.Name, p.IP)
				e, ok := eniOf(lab, n, p.IP)
				Expect(ok).To(BeTrue(), "EC2 knows %s's address", p.Name)
				Expect(e.SubnetID).To(Equal("subnet-pods"))
				Expect(e.SecurityGroups).To(ConsistOf("sg-1"), "the pod ENI carries the ENIConfig's security groups")
			}
		}
		Expect(ping(lab, "node-1/pod-1", "node-2/pod-1")).To(Succeed())
		Expect(ping(lab, "node-2/pod-3", "node-1/pod-2")).To(Succeed())
		Expect(ping(lab, "node-1/pod-1", "node-1/pod-3")).To(Succeed())
	})
})

func inNode(n *node.Node, env []string, args ...string) string {
	GinkgoHelper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.NetNSName()}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "%v: %s", args, out)
	return string(out)
}

var _ = Describe("Inside a node", Label("node-view", "dummy"), func() {
	It("lets the AWS CLI list the node's ENIs and shows the per-ENI route tables", func() {
		lab := newLab(node.LabConfig{})
		n := addNode(lab, node.Spec{Name: "node-1", InstanceType: "m5.large"})
		addPods(n, 10)
		Eventually(readyPods(n)).Should(Equal(10))
		Eventually(observed).WithArguments(n).Should(HaveField("ENIs", 3))
		inst, _ := lab.EC2().Instance(n.InstanceID())

		rules := inNode(n, nil, "ip", "-4", "rule")
		Expect(rules).To(MatchRegexp(`(?m)^1024:\s+from all fwmark 0x80/0x80 lookup main`), "ipamd's host rule")
		for _, e := range inst.ENIs {
			if e.DeviceIndex == 0 {
				continue
			}
			table := strconv.Itoa(e.DeviceIndex + 1)
			Expect(rules).To(MatchRegexp(`(?m)^32765:\s+from %s lookup %s\b`, regexp.QuoteMeta(e.PrimaryIP.String()), table), "ENI %s's rule", e.ID)
			routes := inNode(n, nil, "ip", "-4", "route", "show", "table", table)
			Expect(routes).To(MatchRegexp(`(?m)^default via 10\.0\.1\.1 dev eth%d`, e.DeviceIndex))
			Expect(routes).To(MatchRegexp(`(?m)^10\.0\.1\.1 dev eth%d scope link`, e.DeviceIndex))
		}
		onSecondary := 0
		for _, p := range n.Pods() {
			ip := regexp.QuoteMeta(p.IP.String())
			Expect(rules).To(MatchRegexp(`(?m)^512:\s+from all to %s lookup main\b`, ip), "%s's 'to pod' rule", p.Name)
			e, ok := eniOf(lab, n, p.IP)
			Expect(ok).To(BeTrue(), "EC2 knows %s's address", p.Name)
			if e.DeviceIndex > 0 {
				onSecondary++
				Expect(rules).To(MatchRegexp(`(?m)^1536:\s+from %s lookup %d\b`, ip, e.DeviceIndex+1), "%s's rule to its ENI's table", p.Name)
			} else {
				Expect(rules).NotTo(MatchRegexp(`(?m)^1536:\s+from %s `, ip), "a primary-ENI pod (%s) needs no source rule", p.Name)
			}
		}
		Expect(onSecondary).To(BeNumerically(">=", 1), "10 pods do not fit the primary ENI's 9 addresses")

		cli := awscli.Path()
		if cli == "" {
			Skip(awscli.Missing)
		}
		out := inNode(n, []string{"AWS_ACCESS_KEY_ID=AKIDLAB", "AWS_SECRET_ACCESS_KEY=lab", "AWS_DEFAULT_REGION=us-west-2", "AWS_PAGER="},
			cli, "ec2", "describe-network-interfaces", "--endpoint-url", node.EC2Endpoint, "--output", "json",
			"--filters", "Name=attachment.instance-id,Values="+n.InstanceID())
		var v struct {
			NetworkInterfaces []struct {
				NetworkInterfaceId string
				PrivateIpAddresses []struct{ PrivateIpAddress string }
			}
		}
		Expect(json.Unmarshal([]byte(out), &v)).To(Succeed(), out)
		Expect(v.NetworkInterfaces).To(HaveLen(len(inst.ENIs)))
		var listed []string
		for _, ni := range v.NetworkInterfaces {
			for _, a := range ni.PrivateIpAddresses {
				listed = append(listed, a.PrivateIpAddress)
			}
		}
		for _, p := range n.Pods() {
			Expect(listed).To(ContainElement(p.IP.String()), "the CLI lists pod %s's secondary IP", p.Name)
		}
		Expect(strings.Count(out, "eni-")).To(BeNumerically(">=", 3))
	})
})

var _ = Describe("ENI lifecycle", Label("hotplug", "dummy"), func() {
	It("plugs each attached ENI in as eth<device> with its MAC and unplugs it when ipamd gives it back", func() {
		lab := newLab(node.LabConfig{HotplugDelay: 2 * time.Second})
		n := addNode(lab, node.Spec{Name: "node-1", InstanceType: "m5.large"})
		addPods(n, 15)
		Eventually(readyPods(n)).Should(Equal(15))
		Eventually(observed).WithArguments(n).Should(HaveField("ENIs", 3))
		inst, _ := lab.EC2().Instance(n.InstanceID())
		Eventually(nodeLinks).WithArguments(n).Should(Equal(eniLinks(inst)), "one link per attached ENI")
		if lab.Backend() == node.BackendVeth {
			Eventually(vpcRoutes).WithArguments(lab).Should(ConsistOf(eniAddrs(inst)), "the VPC routes every address EC2 assigned")
		}

		Expect(n.DeletePods(context.Background(), 15)).To(Succeed())
		Eventually(observed, realTime(120*time.Second)).WithArguments(n).Should(Equal(pool{ENIs: 1, Total: 9}), "spare ENIs go back to EC2")
		inst, _ = lab.EC2().Instance(n.InstanceID())
		Expect(inst.ENIs).To(HaveLen(1))
		Eventually(nodeLinks).WithArguments(n).Should(Equal(eniLinks(inst)), "detached ENIs leave the node")
		if lab.Backend() == node.BackendVeth {
			Eventually(vpcRoutes).WithArguments(lab).Should(ConsistOf(eniAddrs(inst)), "the VPC routes only what EC2 still assigns")
		}
	})
})

// nodeLinks maps the node's eth* links to their MACs.
func nodeLinks(n *node.Node) (map[string]string, error) {
	h, err := nsutil.Handle(n.NetNS())
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := nsutil.Retry(h.LinkList)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "eth") {
			out[l.Attrs().Name] = l.Attrs().HardwareAddr.String()
		}
	}
	return out, nil
}

func eniLinks(inst fakeec2.Instance) map[string]string {
	out := map[string]string{}
	for _, e := range inst.ENIs {
		out["eth"+strconv.Itoa(e.DeviceIndex)] = e.MAC
	}
	return out
}

func eniAddrs(inst fakeec2.Instance) []string {
	var out []string
	for _, e := range inst.ENIs {
		out = append(out, e.PrimaryIP.String()+"/32")
		for _, a := range e.SecondaryIPs {
			out = append(out, a.String()+"/32")
		}
		for _, p := range e.Prefixes {
			out = append(out, p.String())
		}
	}
	return out
}

// vpcRoutes lists the destinations the VPC namespace routes.
func vpcRoutes(lab *node.Lab) ([]string, error) {
	h, err := nsutil.Handle(lab.VPCNetNS())
	if err != nil {
		return nil, err
	}
	defer h.Close()
	routes, err := nsutil.Retry(func() ([]netlink.Route, error) { return h.RouteList(nil, unix.AF_INET) })
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range routes {
		if r.Dst != nil {
			out = append(out, r.Dst.String())
		}
	}
	return out, nil
}
