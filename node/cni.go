package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// cniSetup is what every CNI call of a node shares.
type cniSetup struct {
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
}

// conflist is the node's CNI configuration, shaped like upstream's
// misc/10-aws.conflist as aws-node fills it in: the plugin logs to
// AWS_VPC_K8S_PLUGIN_LOG_FILE's default, which the node's filesystem view
// (nodeExec) makes the node's plugin.log. ipamdSocket, which upstream's
// plugin ignores (it dials the hard-coded AWSNodeRunDir/ipamd.sock, the
// node's socket in the view), lets a test put a proxy before enilab's.
func (n *Node) conflist() (*libcni.NetworkConfigList, error) {
	mtu := n.ipamdCfg.PodMTU
	if mtu == 0 {
		mtu = n.ipamdCfg.ENIMTU
	}
	if mtu == 0 {
		mtu = linkMTU
	}
	prefix := n.ipamdCfg.VethPrefix
	if prefix == "" {
		prefix = "eni"
	}
	plugins := []map[string]any{{
		"name":           "aws-cni",
		"type":           "aws-cni",
		"vethPrefix":     prefix,
		"mtu":            strconv.Itoa(mtu),
		"ipamdSocket":    n.pluginSocket,
		"pluginLogFile":  AWSNodeLogDir + "/plugin.log",
		"pluginLogLevel": "DEBUG",
		// aws-node writes POD_SECURITY_GROUP_ENFORCING_MODE here.
		"podSGEnforcingMode": string(n.podSGEnforcing()),
	}}
	if n.ipamdCfg.EnableIPv6 {
		plugins = append(plugins, n.egressPluginConf(mtu))
	}
	conf := map[string]any{
		"cniVersion":   "1.0.0",
		"name":         cniNetworkName,
		"disableCheck": false,
		"plugins":      plugins,
	}
	b, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromBytes(b)
}

// The CNI network name and the pod's interface the lab's runtime uses.
const (
	cniNetworkName = "aws-cni"
	podIfName      = "eth0"
)

// cniSetup loads the node's CNI configuration; its error names no node
// or pod, the callers do.
func (n *Node) cniSetup() (cniSetup, error) {
	list, err := n.conflist()
	if err != nil {
		return cniSetup{}, fmt.Errorf("CNI config: %w", err)
	}
	return cniSetup{
		cni:  libcni.NewCNIConfigWithCacheDir([]string{n.binDir}, filepath.Join(n.lab.dir, "cni-cache"), n.exec()),
		list: list,
	}, nil
}

func (n *Node) runtimeConf(p *pod, cid string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: cid,
		NetNS:       p.nsPath,
		IfName:      podIfName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", PodNamespace},
			{"K8S_POD_NAME", p.k8sName},
			{"K8S_POD_INFRA_CONTAINER_ID", cid},
		},
	}
}

func (n *Node) cniAdd(ctx context.Context, p *pod, cid string) (netip.Addr, error) {
	s, err := n.cniSetup()
	if err != nil {
		return netip.Addr{}, err
	}
	res, err := s.cni.AddNetworkList(ctx, s.list, n.runtimeConf(p, cid))
	if err != nil {
		return netip.Addr{}, err
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("CNI result: %w", err)
	}
	for _, ipc := range r.IPs {
		if a, ok := netip.AddrFromSlice(ipc.Address.IP); ok && a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	for _, ipc := range r.IPs { // an IPv6 pod (IPv6 mode)
		if a, ok := netip.AddrFromSlice(ipc.Address.IP); ok {
			return a, nil
		}
	}
	return netip.Addr{}, errors.New("CNI result has no IP address")
}

func (n *Node) cniDel(ctx context.Context, p *pod, cid string) error {
	s, err := n.cniSetup()
	if err != nil {
		return err
	}
	return s.cni.DelNetworkList(ctx, s.list, n.runtimeConf(p, cid))
}

func (n *Node) cniCheck(ctx context.Context, p *pod, cid string) error {
	s, err := n.cniSetup()
	if err != nil {
		return err
	}
	return s.cni.CheckNetworkList(ctx, s.list, n.runtimeConf(p, cid))
}

// containerID is a fresh sandbox id per ADD attempt, as the container
// runtime creates a new sandbox for each try; unique across labs and nodes
// because the CNI cache is keyed by it.
func (n *Node) containerID(p *pod, attempt int) string {
	n.mu.Lock()
	n.attempts++
	seq := n.attempts
	n.mu.Unlock()
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d/%d", n.lab.cfg.Prefix, p.name, attempt, seq)))
	return hex.EncodeToString(sum[:])
}
