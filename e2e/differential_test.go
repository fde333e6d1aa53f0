package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/enilab/enilab/cniplugin/egress"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
	"github.com/enilab/enilab/scenario/nodelab"
	"github.com/enilab/enilab/scenarios"
)

// diffPods is how many pods each plugin wires per scenario.
const diffPods = 2

// The two sides of the differential suite: one node runs enilab's plugin,
// its twin upstream's (VPC CNI v1.23.1 cmd/routed-eni-cni-plugin, built by
// `make upstream`), both with the scenario's first node spec and ipamd
// settings. In IPv6 mode the upstream side also runs upstream's egress-cni
// (cmd/egress-cni-plugin) with containernetworking's host-local when
// `make upstream` built them next to aws-cni, else enilab's egress-cni.
const (
	sideEnilab   = "enilab"
	sideUpstream = "upstream"
)

// machinePaths are upstream's hard-coded node paths; a lab writes none of
// them on the machine.
var machinePaths = []string{node.AWSNodeRunDir, node.AWSNodeLogDir, node.EgressRunDir, "/etc/cni", "/opt/cni"}

var _ = Describe("Differential: enilab's plugin against upstream's", Label("differential", "dummy"), func() {
	for _, b := range scenarios.All() {
		It("wires, checks and deletes pods alike in "+b.Name, func() {
			upstream, err := node.UpstreamPlugin()
			if errors.Is(err, node.ErrNoUpstreamPlugin) {
				Skip(err.Error())
			}
			Expect(err).NotTo(HaveOccurred())
			sc, err := scenario.Parse(b.Name+".yaml", b.Source)
			Expect(err).NotTo(HaveOccurred())
			if !addsPods(sc) {
				Skip(b.Name + " starts no pods: it does not exercise the plugin")
			}
			before := machineState()
			differential(sc, upstream)
			Expect(machineState()).To(Equal(before), "nothing is written under the machine's %v", machinePaths)
		})
	}
})

func addsPods(sc *scenario.Scenario) bool {
	for _, s := range sc.Steps {
		if s.Pods != nil && s.Pods.Add > 0 {
			return true
		}
	}
	return false
}

// differential runs diffPods pods on twin nodes, one per plugin, in
// lockstep; compares what ADD made (pod and node namespaces, CNI result),
// runs CHECK and DEL with the other plugin, and compares what DEL left.
func differential(sc *scenario.Scenario, upstream string) {
	cfg := nodelab.LabConfig(sc, "", nil, nil)
	cfg.TimeScale = 0 // the suite's
	lab := newLab(cfg)
	spec := sc.Nodes[0]
	plugins := map[string]string{sideUpstream: upstream}
	egressPlugins := map[string]string{sideUpstream: upstreamEgress(upstream)}
	nodes := map[string]*node.Node{}
	for _, side := range []string{sideEnilab, sideUpstream} {
		nodes[side] = addNode(lab, node.Spec{Name: side, InstanceType: spec.InstanceType, Subnet: spec.Subnet,
			MaxPods: spec.MaxPods, Labels: spec.Labels, PluginPath: plugins[side], EgressPluginPath: egressPlugins[side]})
	}
	cache := filepath.Join(lab.Dir(), "cni-cache")
	var added []pairOfPods
	for i := 1; i <= diffPods; i++ {
		for _, side := range []string{sideEnilab, sideUpstream} {
			addPods(nodes[side], 1)
			Eventually(readyPods(nodes[side])).Should(Equal(i), "%s: pod-%d ready", side, i)
		}
		added = append(added, comparePod(nodes, fmt.Sprintf("pod-%d", i), cache))
	}
	if cfg.VPC.IPv6 && egressPlugins[sideUpstream] != "" {
		log, err := os.ReadFile(filepath.Join(filepath.Dir(nodes[sideUpstream].PluginLogPath()), "egress-v4-plugin.log"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(log)).To(ContainSubstring("Received an Add request"), "upstream's egress-cni made the upstream side's v4if0")
	}
	// Each pod is checked and deleted by the plugin that did not make it.
	Expect(nodes[sideEnilab].SetPluginPath(context.Background(), upstream)).To(Succeed())
	exe, err := os.Executable()
	Expect(err).NotTo(HaveOccurred())
	Expect(nodes[sideUpstream].SetPluginPath(context.Background(), exe)).To(Succeed())
	Expect(nodes[sideEnilab].SetEgressPluginPath(egressPlugins[sideUpstream])).To(Succeed())
	Expect(nodes[sideUpstream].SetEgressPluginPath("")).To(Succeed())
	for _, p := range added {
		for _, side := range []string{sideEnilab, sideUpstream} {
			name := side + "/" + p.name
			Expect(nodes[side].CheckPod(context.Background(), name)).To(Succeed(), "CHECK of %s by the other plugin", name)
			Expect(nodes[side].DeletePod(context.Background(), name)).To(Succeed(), "DEL of %s by the other plugin", name)
		}
		compareAfterDel(nodes, p)
	}
	for _, side := range []string{sideEnilab, sideUpstream} {
		Eventually(func() int { return nodes[side].Status().AssignedIPs }).Should(BeZero(), "%s: DEL returned every address to ipamd", side)
	}
}

// pairOfPods is one pod name on both nodes: its address and host veth on
// each side, for the look after DEL.
type pairOfPods struct {
	name string
	pods map[string]node.PodStatus
	veth map[string]string
}

// comparePod compares pod name's pictures on both nodes after ADD.
func comparePod(nodes map[string]*node.Node, name, cache string) pairOfPods {
	GinkgoHelper()
	pair := pairOfPods{name: name, pods: map[string]node.PodStatus{}, veth: map[string]string{}}
	pics := map[string][3]picture{}
	for side, n := range nodes {
		st, ok := n.Pod(side + "/" + name)
		Expect(ok).To(BeTrue())
		pair.pods[side] = st
		norm := podNormaliser(st.IP, st.NetNS)
		veth := hostVeth(cache, st.ContainerID)
		pair.veth[side] = veth
		norm = withMACs(norm, n.NetNS(), veth, st.NetNS)
		norm = withEgress(norm, cache, st.ContainerID, n.NetNS(), st.NetNS)
		res, err := resultPicture(cache, "aws-cni", st.ContainerID, norm)
		Expect(err).NotTo(HaveOccurred())
		pod, err := podPicture(st.NetNS, norm)
		Expect(err).NotTo(HaveOccurred())
		host, err := nodePicture(n.NetNS(), veth, st.IP, norm)
		Expect(err).NotTo(HaveOccurred())
		Expect(host).NotTo(BeEmpty(), "%s: the node holds %s's host side", side, name)
		pics[side] = [3]picture{res, pod, host}
	}
	for i, what := range []string{"CNI ADD result", "pod namespace after ADD", "node namespace after ADD"} {
		d := diff(sideEnilab, pics[sideEnilab][i], sideUpstream, pics[sideUpstream][i])
		Expect(d).To(BeEmpty(), "%s of %s differs (enilab's pod %s, upstream's %s)",
			what, name, pair.pods[sideEnilab].IP, pair.pods[sideUpstream].IP)
	}
	return pair
}

// compareAfterDel compares what DEL left of the pod on both nodes: no
// route or rule at once (upstream's TeardownPodNetwork removes them), and
// nothing at all once the runtime's removal of the pod namespace has taken
// the veth pair with it (the kernel does that asynchronously).
func compareAfterDel(nodes map[string]*node.Node, p pairOfPods) {
	GinkgoHelper()
	pics := map[string]picture{}
	for side := range nodes {
		pics[side] = p.nodePicture(nodes, side)
	}
	d := diff(sideEnilab, pics[sideEnilab].routing(), sideUpstream, pics[sideUpstream].routing())
	Expect(d).To(BeEmpty(), "node routes and rules after DEL of %s differ", p.name)
	Expect(pics[sideEnilab].routing()).To(BeEmpty(), "DEL of %s left routes or rules in the node", p.name)
	for side := range nodes {
		Eventually(func() picture { return p.nodePicture(nodes, side) }).Should(BeEmpty(),
			"%s: the node holds nothing of %s once its namespace is gone", side, p.name)
	}
}

// nodePicture is the node namespace's picture of the pod on one side.
func (p pairOfPods) nodePicture(nodes map[string]*node.Node, side string) picture {
	GinkgoHelper()
	st := p.pods[side]
	pic, err := nodePicture(nodes[side].NetNS(), p.veth[side], st.IP, podNormaliser(st.IP, st.NetNS))
	Expect(err).NotTo(HaveOccurred())
	return pic
}

// hostVeth is the host veth the cached ADD result names first (upstream's
// and enilab's layout alike).
func hostVeth(cache, containerID string) string {
	GinkgoHelper()
	ifs := cachedInterfaces(cache, containerID)
	Expect(ifs).NotTo(BeEmpty())
	return ifs[0]
}

// cachedInterfaces are the interface names of the ADD result libcni cached
// for the pod's eth0, in the result's order.
func cachedInterfaces(cache, containerID string) []string {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join(cache, "results", "aws-cni-"+containerID+"-eth0"))
	Expect(err).NotTo(HaveOccurred())
	var c struct {
		Result struct {
			Interfaces []struct{ Name string } `json:"interfaces"`
		} `json:"result"`
	}
	Expect(json.Unmarshal(b, &c)).To(Succeed())
	names := make([]string, 0, len(c.Result.Interfaces))
	for _, i := range c.Result.Interfaces {
		names = append(names, i.Name)
	}
	return names
}

// withMACs names the host veth's and the pod interface's random MACs.
func withMACs(norm normaliser, nodeNS, veth, podNS string) normaliser {
	GinkgoHelper()
	return withLinkMACs(norm, []namedLink{{nodeNS, veth, "<host-veth-mac>"}, {podNS, "eth0", "<pod-mac>"}})
}

// namedLink is a link of a namespace and the name its MAC gets in a
// picture.
type namedLink struct{ ns, link, name string }

// withLinkMACs names each link's MAC.
func withLinkMACs(norm normaliser, links []namedLink) normaliser {
	GinkgoHelper()
	for _, x := range links {
		h, err := nsutil.Handle(x.ns)
		Expect(err).NotTo(HaveOccurred())
		l, err := h.LinkByName(x.link)
		h.Close()
		Expect(err).NotTo(HaveOccurred(), "%s in %s", x.link, x.ns)
		norm = norm.withMAC(l.Attrs().HardwareAddr, x.name)
	}
	return norm
}

// machineState lists what exists under the machine's upstream paths.
func machineState() []string {
	var out []string
	for _, root := range machinePaths {
		_ = filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
			if err == nil {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// withEgress names, in IPv6 mode, what the chained egress-cni made with
// random names: its host veth (the interface the cached result lists just
// before v4if0) and the MACs of both ends.
func withEgress(norm normaliser, cache, containerID, nodeNS, podNS string) normaliser {
	GinkgoHelper()
	ifs := cachedInterfaces(cache, containerID)
	i := slices.Index(ifs, egress.IPv4IfName)
	if i < 1 {
		return norm
	}
	norm = withLinkMACs(norm, []namedLink{{nodeNS, ifs[i-1], "<egress-veth-mac>"}, {podNS, egress.IPv4IfName, "<v4if0-mac>"}})
	norm.pairs = append(norm.pairs, ifs[i-1], "<egress-veth>")
	return norm
}

// upstreamEgress is upstream's egress-cni beside its aws-cni when it and
// host-local were built there; "" otherwise (enilab's on both sides).
func upstreamEgress(upstream string) string {
	dir := filepath.Dir(upstream)
	for _, b := range []string{"egress-cni", "host-local"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return ""
		}
	}
	return filepath.Join(dir, "egress-cni")
}
