package e2e

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/cniplugin/egress"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/node"
)

var _ = Describe("IPv6 mode", Label("ipv6", "fabric"), func() {
	It("gives pods /128s of the node's /80 past the IPv4 max pods, routes them across nodes, and CHECK names a deleted host route", func() {
		lab := newLab(node.LabConfig{
			VPC:      node.VPCSpec{IPv6: true},
			IPAMDEnv: map[string]string{"ENABLE_IPv6": "true", "ENABLE_IPv4": "false", "ENABLE_PREFIX_DELEGATION": "true"},
		})
		needTraffic(lab)
		nodes := addNodes(lab, 2, "m5.large")
		n1, n2 := nodes[0], nodes[1]
		addPods(n1, 40) // an m5.large's IPv4 max pods is 29
		addPods(n2, 2)
		Eventually(readyPods(n1)).Should(Equal(40))
		Eventually(readyPods(n2)).Should(Equal(2))
		Expect(n1.Status().ENIs).To(Equal(1), "IPv6 mode attaches no ENI")

		for _, n := range nodes {
			inst, ok := lab.EC2().Instance(n.InstanceID())
			Expect(ok).To(BeTrue())
			Expect(inst.ENIs).To(HaveLen(1))
			Expect(inst.ENIs[0].IPv6Prefixes).To(HaveLen(1), "one /80 on the primary ENI")
			p80 := inst.ENIs[0].IPv6Prefixes[0]
			Expect(p80.Bits()).To(Equal(80))
			for _, p := range n.Pods() {
				Expect(p80.Contains(p.IP)).To(BeTrue(), "%s (%s) inside %s", p.Name, p.IP, p80)
			}
		}

		Expect(ping(lab, "node-1/pod-1", "node-2/pod-1")).To(Succeed(), "across nodes over IPv6")
		Expect(ping(lab, "node-2/pod-2", "node-1/pod-40")).To(Succeed(), "across nodes, back")
		Expect(ping(lab, "node-1/pod-1", "node-1/pod-2")).To(Succeed(), "same node")

		victim, ok := n2.Pod("node-2/pod-1")
		Expect(ok).To(BeTrue())
		Expect(n2.CheckPod(context.Background(), victim.Name)).To(Succeed())
		deleteHostRoute(n2, victim)
		err := ping(lab, "node-1/pod-1", victim.Name)
		Expect(errors.Is(err, node.ErrNoReply)).To(BeTrue(), "without its /128 host route the pod is unreachable: %v", err)
		err = n2.CheckPod(context.Background(), victim.Name)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("host route " + victim.IP.String() + "/128"))
	})

	It("gives IPv6 pods IPv4 egress through the chained egress plugin: v4if0 in 169.254.172.0/22, SNAT'd to the node's primary address, released on DEL", func() {
		lab := newLab(node.LabConfig{
			VPC:      node.VPCSpec{IPv6: true},
			Subnets:  []node.SubnetSpec{{ID: "subnet-pub", CIDR: "10.0.1.0/24", AZ: "us-west-2a", Public: true}},
			IPAMDEnv: map[string]string{"ENABLE_IPv6": "true", "ENABLE_IPv4": "false", "ENABLE_PREFIX_DELEGATION": "true"},
		})
		needTraffic(lab)
		n1 := addNode(lab, node.Spec{Name: "node-1", InstanceType: "m5.large", Subnet: "subnet-pub"})
		addPods(n1, 3)
		Eventually(readyPods(n1)).Should(Equal(3))
		inst, ok := lab.EC2().Instance(n1.InstanceID())
		Expect(ok).To(BeTrue())

		p, ok := n1.Pod("node-1/pod-2")
		Expect(ok).To(BeTrue())
		v4 := egressAddr(p)
		Expect(netip.MustParsePrefix(node.EgressIPv4Subnet).Contains(v4)).To(BeTrue(), "v4if0 has %s", v4)
		Expect(filepath.Join(n1.EgressIPAMDir(), v4.String())).To(BeAnExistingFile(), "host-local's reservation in the node's own store")
		Expect(node.EgressRunDir).NotTo(BeADirectory(), "nothing under the machine's own /run/cni")

		nat := inNS(n1.NetNSName(), "iptables", "-t", "nat", "-S")
		Expect(nat).To(MatchRegexp(`-A POSTROUTING -s %s/32 -m comment --comment "name: \\"aws-cni\\" id: \\"[0-9a-f]+\\"" -j CNI-E4-[0-9a-f]+`, v4))
		Expect(nat).To(ContainSubstring("-j SNAT --to-source " + inst.PrimaryIP.String()))

		ctx := context.Background()
		// The internet gateway maps only the node's primary address (an
		// unmapped source is dropped): seeing the public address proves
		// the 169.254.172.x source left the node as the primary address.
		Expect(lab.Curl(ctx, "node-1/pod-2")).To(Equal(inst.PublicIP))
		Expect(lab.PingInternet(ctx, "node-1/pod-3")).To(Succeed())
		Expect(n1.CheckPod(ctx, "node-1/pod-2")).To(Succeed(), "CHECK runs through the chain, egress-cni included")

		// aws-node keeps pods off each other's IPv4 egress addresses
		// (SetupHostNetwork in IPv6 mode: setupRuleToBlockNodeLocalAccess).
		Expect(inNS(n1.NetNSName(), "iptables", "-S", "FORWARD")).To(ContainSubstring(
			`-A FORWARD -d 169.254.172.0/22 -m conntrack --ctstate NEW -m comment --comment "Block Node Local Pod access via IPv4" -j REJECT`))
		p3, ok := n1.Pod("node-1/pod-3")
		Expect(ok).To(BeTrue())
		var ln net.Listener
		Expect(nsutil.Do(p.NetNS, func() (err error) {
			ln, err = net.Listen("tcp4", netip.AddrPortFrom(v4, 8080).String())
			return err
		})).To(Succeed())
		defer ln.Close()
		err := nsutil.Do(p3.NetNS, func() error {
			c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(v4, 8080).String(), node.CurlTimeout)
			if err == nil {
				c.Close()
			}
			return err
		})
		Expect(err).To(MatchError(syscall.ECONNREFUSED), "pod-3 to pod-2's %s is rejected on the node", v4)

		Expect(n1.DeletePod(ctx, "node-1/pod-2")).To(Succeed())
		Expect(filepath.Join(n1.EgressIPAMDir(), v4.String())).NotTo(BeAnExistingFile(), "DEL gives the address back")
		Expect(inNS(n1.NetNSName(), "iptables", "-t", "nat", "-S")).NotTo(ContainSubstring("-s "+v4.String()+"/32"), "DEL removes the pod's SNAT")
		Expect(inNS(n1.NetNSName(), "iptables", "-t", "nat", "-S")).To(ContainSubstring("-j SNAT --to-source "+inst.PrimaryIP.String()), "the other pods keep theirs")
	})
})

// egressAddr is the IPv4 address on the pod's v4if0.
func egressAddr(p node.PodStatus) netip.Addr {
	GinkgoHelper()
	h, err := nsutil.Handle(p.NetNS)
	Expect(err).NotTo(HaveOccurred())
	defer h.Close()
	link, err := h.LinkByName(egress.IPv4IfName)
	Expect(err).NotTo(HaveOccurred(), "pod %s has no %s", p.Name, egress.IPv4IfName)
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	Expect(err).NotTo(HaveOccurred())
	Expect(addrs).To(HaveLen(1))
	a, ok := netip.AddrFromSlice(addrs[0].IP.To4())
	Expect(ok).To(BeTrue())
	return a
}

// deleteHostRoute removes the pod's /128 route in the node namespace, as a
// stray `ip -6 route del` would.
func deleteHostRoute(n *node.Node, p node.PodStatus) {
	GinkgoHelper()
	h, err := nsutil.Handle(n.NetNS())
	Expect(err).NotTo(HaveOccurred())
	defer h.Close()
	routes, err := h.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Dst: kernel.HostNet(p.IP)}, netlink.RT_FILTER_DST)
	Expect(err).NotTo(HaveOccurred())
	Expect(routes).To(HaveLen(1))
	Expect(h.RouteDel(&routes[0])).To(Succeed())
}
