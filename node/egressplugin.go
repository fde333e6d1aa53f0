package node

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	egresscni "github.com/enilab/enilab/cniplugin/egress"
	"github.com/enilab/enilab/internal/datapath"
)

// Upstream's egress plugin entry in IPv6 mode, as aws-node fills in
// misc/10-aws.conflist (cmd/aws-vpc-cni/main.go): IPv4 egress on
// (ENABLE_V4_EGRESS's default), host-local over 169.254.172.0/22 with a
// default route, its store under /run/cni/v6pd, its log
// egress-v4-plugin.log, SNAT to the node's primary IPv4 address.
const (
	EgressIPv4Subnet  = datapath.EgressIPv4Subnet
	egressIPv4Dst     = "0.0.0.0/0"
	egressIPv4DataDir = EgressRunDir + "/egress-v4-ipam"
	egressV4LogFile   = AWSNodeLogDir + "/egress-v4-plugin.log"
)

// egressPluginConf is the node's egress-cni entry chained after aws-cni.
func (n *Node) egressPluginConf(mtu int) map[string]any {
	return egressPluginEntry(mtu, n.ipamdCfg.RandomizeSNAT, n.primaryIP())
}

// egressPluginEntry is the egress-cni entry for a node's pod MTU,
// AWS_VPC_K8S_CNI_RANDOMIZESNAT and primary IPv4 address.
func egressPluginEntry(mtu int, randomizeSNAT string, nodeIP netip.Addr) map[string]any {
	return map[string]any{
		"name":          egresscni.ExecName,
		"type":          egresscni.ExecName,
		"mtu":           strconv.Itoa(mtu),
		"enabled":       "true",
		"randomizeSNAT": randomizeSNAT,
		"nodeIP":        nodeIP.String(),
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": EgressIPv4Subnet}}},
			"routes":  []map[string]string{{"dst": egressIPv4Dst}},
			"dataDir": egressIPv4DataDir,
		},
		"pluginLogFile":  egressV4LogFile,
		"pluginLogLevel": "DEBUG",
	}
}

// linkEgressPlugin makes the node's host-local store directory and links
// bin/egress-cni (EgressPluginPath, else the lab's own, ownPlugin) whatever
// the node's aws-cni is. Both exist before ipamd's environment is read;
// only IPv6 mode's conflist and view use them.
func (n *Node) linkEgressPlugin() error {
	if err := os.MkdirAll(n.egressDir(), 0o755); err != nil {
		return fmt.Errorf("node: %s: egress plugin dir: %w", n.name, err)
	}
	return n.SetEgressPluginPath(n.spec.EgressPluginPath)
}

// SetEgressPluginPath makes path the node's egress-cni from the next CNI
// call on, with the host-local binary next to it as bin/host-local; "" is
// the lab's own egress-cni (Lab.ownEgress), which needs no host-local.
func (n *Node) SetEgressPluginPath(path string) error {
	target := path
	if path == "" {
		target = n.lab.ownEgress
	} else {
		if err := checkEgressPlugin(path); err != nil {
			return fmt.Errorf("node: %s: %w", n.name, err)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return fmt.Errorf("node: %s: egress plugin path: %w", n.name, err)
		}
		target = abs
		if err := replaceLink(filepath.Join(n.binDir, hostLocal), filepath.Join(filepath.Dir(abs), hostLocal)); err != nil {
			return fmt.Errorf("node: %s: host-local link: %w", n.name, err)
		}
	}
	if err := replaceLink(filepath.Join(n.binDir, egresscni.ExecName), target); err != nil {
		return fmt.Errorf("node: %s: egress-cni link: %w", n.name, err)
	}
	return nil
}

// hostLocal is the IPAM plugin upstream's egress-cni executes.
const hostLocal = "host-local"

// checkEgressPlugin checks an egress-cni binary and its host-local.
func checkEgressPlugin(path string) error {
	if err := checkExecutable(path); err != nil {
		return err
	}
	if err := checkExecutable(filepath.Join(filepath.Dir(path), hostLocal)); err != nil {
		return fmt.Errorf("%s beside %s: %w", hostLocal, path, err)
	}
	return nil
}

// replaceLink points link at target atomically.
func replaceLink(link, target string) error {
	tmp := link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// EgressIPAMDir is where the node's egress plugin keeps its host-local
// reservations (upstream's /run/cni/v6pd/egress-v4-ipam/aws-cni), one file
// per address in use.
func (n *Node) EgressIPAMDir() string {
	return filepath.Join(n.egressDir(), filepath.Base(egressIPv4DataDir), cniNetworkName)
}
