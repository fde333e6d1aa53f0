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
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/enilab/enilab/internal/nsutil"
)

// cniSetup is what every CNI call of a node shares.
type cniSetup struct {
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
}

// conflist is the node's CNI configuration, shaped like the upstream
// 10-aws.conflist with the lab's per-node ipamd socket.
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
	conf := map[string]any{
		"cniVersion":   "1.0.0",
		"name":         cniNetworkName,
		"disableCheck": false,
		"plugins": []map[string]any{{
			"name":           "aws-cni",
			"type":           "aws-cni",
			"vethPrefix":     prefix,
			"mtu":            strconv.Itoa(mtu),
			"ipamdSocket":    n.pluginSocket,
			"pluginLogFile":  n.PluginLogPath(),
			"pluginLogLevel": "DEBUG",
		}},
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
		cni:  libcni.NewCNIConfigWithCacheDir([]string{n.lab.binDir}, filepath.Join(n.lab.dir, "cni-cache"), nil),
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

// inNode runs a CNI operation from inside the node namespace: the plugin
// process is forked from the locked thread and so starts there, as it would
// under the kubelet on the instance.
func (n *Node) inNode(fn func() error) error { return nsutil.Do(n.nsPath, fn) }

func (n *Node) cniAdd(ctx context.Context, p *pod, cid string) (netip.Addr, error) {
	s, err := n.cniSetup()
	if err != nil {
		return netip.Addr{}, err
	}
	var res types.Result
	err = n.inNode(func() error {
		var err error
		res, err = s.cni.AddNetworkList(ctx, s.list, n.runtimeConf(p, cid))
		return err
	})
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
	return n.inNode(func() error { return s.cni.DelNetworkList(ctx, s.list, n.runtimeConf(p, cid)) })
}

func (n *Node) cniCheck(ctx context.Context, p *pod, cid string) error {
	s, err := n.cniSetup()
	if err != nil {
		return err
	}
	return n.inNode(func() error { return s.cni.CheckNetworkList(ctx, s.list, n.runtimeConf(p, cid)) })
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
