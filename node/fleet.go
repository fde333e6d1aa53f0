package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/enilab/enilab/ipamd/config"
	"github.com/enilab/enilab/ipamd/rpc"
)

// Datapaths of a node (Spec.Datapath, LabConfig.Datapath).
const (
	// DatapathKernel is a node with its network namespace, ENI links and
	// pod namespaces with veths: the plugin runs as a real binary.
	DatapathKernel = "kernel"
	// DatapathNone is a fleet node: no namespace, no links, no veths.
	// ipamd runs with node networking off and the kubelet-like runner
	// calls ipamd's AddNetwork and DelNetwork itself, with the requests
	// the plugin sends (its IPAM half only), so a thousand nodes fit on
	// one machine.
	DatapathNone = "none"
)

// validDatapath reports whether d names a datapath ("" = the default).
func validDatapath(d string) bool {
	return d == "" || d == DatapathKernel || d == DatapathNone
}

// Datapath returns the node's datapath: DatapathKernel or DatapathNone.
func (n *Node) Datapath() string {
	if n.fleet() {
		return DatapathNone
	}
	return DatapathKernel
}

// fleet reports whether the node has no datapath (a fleet node).
func (n *Node) fleet() bool {
	d := n.spec.Datapath
	if d == "" {
		d = n.lab.cfg.Datapath
	}
	return d == DatapathNone
}

// errNoDatapath is what a step that needs packets gets from a fleet node.
func (n *Node) errNoDatapath(what string) error {
	return fmt.Errorf("node: %s: %s: the node runs without a datapath (datapath: none)", n.name, what)
}

// idleConnTimeout closes keep-alive connections idle this long (real
// time): ipamd's SDK clients open several to EC2 and IMDS during start-up
// bursts and keep them, each costing three goroutines and 16 KiB of
// buffers; a thousand nodes' worth is most of a fleet's footprint. Go's
// transport retries a request that meets a connection the server closed
// while idle, so nothing is lost but a reconnect.
const idleConnTimeout = 2 * time.Second

// startFleetEndpoints serves only this instance's IMDS, on loopback, for
// the in-process ipamd: a fleet node has no namespace to serve IMDS and
// EC2 in.
func (n *Node) startFleetEndpoints() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("node: %s: IMDS listener: %w", n.name, err)
	}
	n.imdsURL = "http://" + ln.Addr().String()
	n.imdsSrv = &http.Server{Handler: n.lab.ec2.IMDS(n.instanceID), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: idleConnTimeout}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		_ = n.imdsSrv.Serve(ln)
	}()
	return nil
}

// ipamdClient is the node's gRPC client of its ipamd socket, made once;
// nothing is sent until the first call, and a call to a dead socket fails
// at once, as the plugin's does.
func (n *Node) ipamdClient() (rpc.CNIBackendClient, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.rpcConn == nil {
		conn, err := grpc.NewClient("unix://"+n.pluginSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, fmt.Errorf("ipamd client for %s: %w", n.pluginSocket, err)
		}
		n.rpcConn = conn
	}
	return rpc.NewCNIBackendClient(n.rpcConn), nil
}

// closeIPAMDClient closes the node's gRPC client, if any.
func (n *Node) closeIPAMDClient() error {
	n.mu.Lock()
	conn := n.rpcConn
	n.rpcConn = nil
	n.mu.Unlock()
	if conn == nil {
		return nil
	}
	return conn.Close()
}

// fleetNetns is the namespace path the runner names in its requests: the
// path the pod's sandbox would have, though nothing is created there.
func (n *Node) fleetNetns(p *pod) string { return filepath.Join("/var/run/netns", p.nsName) }

// fleetAdd is the plugin's ADD reduced to its IPAM half (upstream
// cmdAdd's AddNetwork call, same request fields): an address from ipamd,
// no veth, no routes.
func (n *Node) fleetAdd(ctx context.Context, p *pod, cid string) (netip.Addr, error) {
	c, err := n.ipamdClient()
	if err != nil {
		return netip.Addr{}, err
	}
	reply, err := c.AddNetwork(ctx, &rpc.AddNetworkRequest{
		K8S_POD_NAME: p.k8sName, K8S_POD_NAMESPACE: PodNamespace, K8S_POD_INFRA_CONTAINER_ID: cid,
		Netns: n.fleetNetns(p), IfName: podIfName, NetworkName: cniNetworkName, ContainerID: cid,
		ClientVersion: rpc.Version,
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("aws-cni: ipamd refused an address for pod %s/%s: %w", PodNamespace, p.k8sName, err)
	}
	if !reply.GetSuccess() {
		return netip.Addr{}, fmt.Errorf("aws-cni: ipamd could not assign an address to pod %s/%s", PodNamespace, p.k8sName)
	}
	for _, m := range reply.GetIPAllocationMetadata() {
		if a, err := netip.ParseAddr(m.GetIPv4Addr()); err == nil && a.Is4() {
			return a, nil
		}
	}
	return netip.Addr{}, errors.New("ipamd returned no IPv4 address")
}

// fleetDel is the plugin's DEL reduced to its IPAM half (upstream
// cmdDel's DelNetwork call); a pod ipamd does not know is deleted already.
func (n *Node) fleetDel(ctx context.Context, p *pod, cid string) error {
	c, err := n.ipamdClient()
	if err != nil {
		return err
	}
	_, err = c.DelNetwork(ctx, &rpc.DelNetworkRequest{
		K8S_POD_NAME: p.k8sName, K8S_POD_NAMESPACE: PodNamespace, K8S_POD_INFRA_CONTAINER_ID: cid,
		Reason: "PodDeleted", IfName: podIfName, NetworkName: cniNetworkName, ContainerID: cid,
		ClientVersion: rpc.Version,
	})
	if err != nil && !errors.Is(err, context.Canceled) && containsUnknownPod(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("aws-cni: ipamd did not release the address of pod %s/%s: %w", PodNamespace, p.k8sName, err)
	}
	return nil
}

// containsUnknownPod: upstream's datastore.ErrUnknownPod text, which DEL
// treats as done.
func containsUnknownPod(err error) bool {
	return err != nil && strings.Contains(err.Error(), "datastore: unknown pod")
}

// podAdd, podDel and podCheck are the runtime's network calls: the CNI
// plugin on a node with a datapath, ipamd directly on a fleet node.
func (n *Node) podAdd(ctx context.Context, p *pod, cid string) (netip.Addr, error) {
	if n.fleet() {
		return n.fleetAdd(ctx, p, cid)
	}
	return n.cniAdd(ctx, p, cid)
}

func (n *Node) podDel(ctx context.Context, p *pod, cid string) error {
	if n.fleet() {
		return n.fleetDel(ctx, p, cid)
	}
	return n.cniDel(ctx, p, cid)
}

func (n *Node) podCheck(ctx context.Context, p *pod, cid string) error {
	if n.fleet() {
		return n.errNoDatapath("CNI CHECK")
	}
	return n.cniCheck(ctx, p, cid)
}

// bootFleet brings a fleet node up: its IMDS on loopback and ipamd, no
// links (the link worker is not started, and enqueue drops events).
func (n *Node) bootFleet(ctx context.Context) error {
	if err := n.startFleetEndpoints(); err != nil {
		return err
	}
	if n.lab.cfg.noIPAMD {
		n.ipamdCfg = config.Default()
		return nil
	}
	// A fleet node's ipamd calls EC2 through the lab's endpoint: it starts
	// in its turn.
	if err := n.awaitEC2Turn(ctx); err != nil {
		return err
	}
	return n.startIPAMD(ctx)
}
