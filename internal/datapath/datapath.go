// Package datapath is the contract between the CNI plugin, ipamd's node
// networking, the lab's nodes and the scenario runner: rule priorities, route
// tables, the pods' link-local gateway, host veth names and pod names. It is
// pure Go (no netlink), so the scenario parser can use it without linking
// the kernel-facing packages. Values are upstream VPC CNI v1.23.1's
// (pkg/networkutils/network.go, cmd/routed-eni-cni-plugin/driver/driver.go).
package datapath

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Policy-rule priorities, as upstream installs them.
const (
	// ToPodRulePriority is `to <pod ip> lookup main` (upstream toContainerRulePriority).
	ToPodRulePriority = 512
	// FwmarkRulePriority is `fwmark 0x80/0x80 lookup main` (upstream hostRulePriority).
	FwmarkRulePriority = 1024
	// FromPodRulePriority is `from <pod ip> lookup <ENI table>` for a pod on a
	// secondary ENI (upstream fromContainerRulePriority).
	FromPodRulePriority = 1536
	// ENIRulePriority is `from <ENI primary ip> lookup <ENI table>`.
	ENIRulePriority = 32765
)

// MainTable is the kernel's main routing table, the primary ENI's table.
const MainTable = 254

// ConnMark is the connmark/fwmark bit upstream uses for traffic that must
// return by the primary ENI (AWS_VPC_K8S_CNI_CONNMARK default 0x80).
const ConnMark = 0x80

// GatewayIP is the link-local next hop every pod routes through: a static
// neighbour entry in the pod points it at the host veth's MAC. It is never an
// address on the node, so a pod cannot ping it (as on EKS).
var GatewayIP = netip.MustParseAddr("169.254.1.1")

// DummyPrefix names the purely virtual interface upstream's plugin appends
// to every ADD result: HostVethName(DummyPrefix, namespace, pod), mac "0"
// (the VLAN id of a non-branch pod) and sandbox the device number, read back
// by DEL when ipamd cannot answer (cni.go dummyInterfacePrefix).
const DummyPrefix = "dummy"

// ENITable is the route table of the ENI at a device index: main for the
// primary ENI (device 0), device + 1 otherwise (upstream SetupENINetwork).
func ENITable(device int) int {
	if device == 0 {
		return MainTable
	}
	return device + 1
}

// HostVethName is a pod's host-side veth name: prefix + the first 11 hex
// digits of sha1("<namespace>.<pod>"), as upstream's GenerateHostVethName,
// so it is stable across ADD retries and fits IFNAMSIZ with a 4-character
// prefix.
func HostVethName(prefix, namespace, pod string) string {
	sum := sha1.Sum([]byte(namespace + "." + pod))
	return prefix + hex.EncodeToString(sum[:])[:11]
}

// PodName is the lab's name of a node's n-th pod: "<node>/pod-<n>".
func PodName(node string, n int) string { return node + "/" + PodK8sName(n) }

// PodK8sName is the Kubernetes name (K8S_POD_NAME) of a node's n-th pod.
func PodK8sName(n int) string { return "pod-" + strconv.Itoa(n) }

// ParsePodName splits "<node>/pod-<n>"; the error says what is wrong.
func ParsePodName(name string) (node string, n int, err error) {
	node, rest, ok := strings.Cut(name, "/")
	if !ok || node == "" {
		return "", 0, fmt.Errorf("pod %q: want <node>/pod-<n>, e.g. node-1/pod-3", name)
	}
	s, ok := strings.CutPrefix(rest, "pod-")
	if !ok {
		return "", 0, fmt.Errorf("pod %q: want <node>/pod-<n>, e.g. node-1/pod-3", name)
	}
	n, err = strconv.Atoi(s)
	if err != nil || n < 1 {
		return "", 0, fmt.Errorf("pod %q: the pod number must be a whole number from 1", name)
	}
	return node, n, nil
}

// Security groups for pods: the datapath of a pod with a branch ENI
// (upstream driver.go SetupBranchENIPodNetwork, pkg/sgpp).
const (
	// VLANRulePriority is `iif <vlan link|host veth> lookup <vlan table>`
	// in strict mode (upstream networkutils.VlanRulePriority).
	VLANRulePriority = 10
	// VLANTableOffset + the VLAN id is the branch pod's route table
	// (upstream rtTable := vlanID + 100).
	VLANTableOffset = 100
	// VLANHostVethPrefix starts a branch pod's host veth in strict mode
	// (upstream sgpp vlanInterfacePrefix); standard mode uses the usual
	// veth prefix.
	VLANHostVethPrefix = "vlan"
)

// VLANTable is the route table of a branch pod with VLAN id vlan.
func VLANTable(vlan int) int { return vlan + VLANTableOffset }

// VLANLinkName is the VLAN link the plugin puts on the trunk ENI for a
// branch pod (upstream buildVlanLinkName).
func VLANLinkName(vlan int) string { return "vlan.eth." + strconv.Itoa(vlan) }

// EnforcingMode is POD_SECURITY_GROUP_ENFORCING_MODE (upstream
// sgpp.EnforcingMode): strict, the default, routes a branch pod's traffic
// only through its VLAN (only the branch ENI's groups apply, no SNAT);
// standard routes it by address like any pod (the node's groups apply too).
type EnforcingMode string

// The enforcing modes and upstream's default.
const (
	EnforcingStrict   EnforcingMode = "strict"
	EnforcingStandard EnforcingMode = "standard"
	DefaultEnforcing                = EnforcingStrict
	EnvPodSGEnforcing               = "POD_SECURITY_GROUP_ENFORCING_MODE"
)

// BranchVethPrefix is the host veth prefix of a branch pod (upstream
// sgpp.BuildHostVethNamePrefix): "vlan" in strict mode, prefix in standard.
func BranchVethPrefix(prefix string, mode EnforcingMode) string {
	if mode == EnforcingStandard {
		return prefix
	}
	return VLANHostVethPrefix
}

// EgressIPv4Subnet is where IPv6-mode pods take their IPv4 egress address
// (v4if0, host-local in the egress plugin's conflist entry); aws-node
// keeps pods from reaching each other's (upstream's
// setupRuleToBlockNodeLocalAccess).
const EgressIPv4Subnet = "169.254.172.0/22"
