package scenario

import (
	"gopkg.in/yaml.v3"
)

// Datapaths a scenario names (`datapath:` at the top or in a `nodes` entry).
const (
	// DatapathKernel: each node has its network namespace, ENI links and
	// pods with veths, set up by the CNI plugin (the default).
	DatapathKernel = "kernel"
	// DatapathNone: fleet nodes — ipamd, the kubelet-like runner and EC2
	// with the same semantics, no namespaces or veths (the plugin's IPAM
	// half only), so a thousand nodes fit on one machine.
	DatapathNone = "none"
)

// Node counts per group: a node with a datapath costs namespaces and
// links, a fleet node an ipamd and a few goroutines.
const (
	maxKernelNodesPerGroup = 64
	maxFleetNodesPerGroup  = 2000
)

// datapath reads a `datapath:` value.
func (p *parser) datapath(n *yaml.Node, path string) (string, bool) {
	d, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if d != DatapathKernel && d != DatapathNone {
		p.add(n, path, "unknown datapath %q: want kernel (namespaces and veths, the default) or none (fleet nodes: ipamd and EC2 only)", d)
		return "", false
	}
	return d, true
}

// nodeDatapath is a node's effective datapath.
func (sc *Scenario) nodeDatapath(spec NodeSpec) string {
	switch {
	case spec.Datapath != "":
		return spec.Datapath
	case sc.Datapath != "":
		return sc.Datapath
	}
	return DatapathKernel
}

// maxPerGroup is how many nodes a group of spec's datapath may hold.
func (sc *Scenario) maxPerGroup(spec NodeSpec) int {
	if sc.nodeDatapath(spec) == DatapathNone {
		return maxFleetNodesPerGroup
	}
	return maxKernelNodesPerGroup
}

// IsFleet reports whether the node runs without a datapath.
func (sc *Scenario) IsFleet(spec NodeSpec) bool { return sc.nodeDatapath(spec) == DatapathNone }
