package node

import (
	"context"
	"errors"
	"fmt"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd"
	"github.com/enilab/enilab/ipamd/config"
)

// ZoneLabel is the node label ENIConfig selection reads by default.
const ZoneLabel = "topology.kubernetes.io/zone"

// Node is one EC2 instance: its namespace, ENI links, endpoints, ipamd and
// pods.
type Node struct {
	lab        *Lab
	log        *slog.Logger
	spec       Spec
	index      int
	name       string
	instanceID string
	subnet     fakeec2.Subnet
	nsName     string
	nsPath     string
	dir        string // logs, plugin link
	runDir     string // what the node has at /var/run/aws-node (rundir.go)
	h          *netlink.Handle
	nsFD       netns.NsHandle
	view       mountView // the plugin's filesystem view (pluginexec.go)

	imdsSrv *http.Server
	ec2Srv  *http.Server
	imdsURL string // root-namespace IMDS of this instance, for ipamd
	ec2URL  string // root-namespace EC2 of this instance, for ipamd
	// ec2Turn closes when the node may call EC2, nil when it may at once
	// (nodegroup.go).
	ec2Turn <-chan struct{}

	ipamdCfg  config.Config
	ipamdOpts ipamd.Options
	// pluginSocket is the ipamd socket in the node's CNI config.
	pluginSocket string
	// binDir holds bin/aws-cni, a link to the node's plugin (plugin, mu).
	binDir string
	plugin string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	qmu   sync.Mutex
	queue []fakeec2.Event
	qsig  chan struct{}

	links    map[string]*eniLink // worker-owned, by ENI id
	peerSeq  int
	closeErr error
	once     sync.Once

	mu       sync.Mutex // guards daemon, lastStat, aws, pods, attempts
	daemon   *ipamd.Daemon
	lastStat ipamd.Status
	aws      awsNode
	pods     []*pod
	attempts int
	sem      chan struct{}
	// ipamdLog is <dir>/ipamd.log, ipamd's own log as on a node (mu).
	ipamdLog *os.File
	// causes are ipamd's recent errors (mu; causes.go).
	causes causes
	// rpcConn is a fleet node's client of its ipamd socket (mu; fleet.go).
	rpcConn *grpc.ClientConn
}

// Status is the node as `enilab` reports it.
type Status struct {
	MaxPods      int
	ENIs         int
	TotalIPs     int
	AssignedIPs  int
	WarmIPs      int
	Prefixes     int
	IPv6Prefixes int // the primary ENI's /80 in IPv6 mode: 0 or 1
	ReadyPods    int
	PendingPods  int
	RejectedPods int
	// IPAMD is the aws-node container's state (IPAMDRunning or
	// IPAMDCrashLoopBackOff; "" when the node runs no ipamd) and
	// IPAMDRestarts its restart count, as kubectl shows them.
	IPAMD         string
	IPAMDRestarts int
}

// prepare makes the node's directory and, for a node with a datapath, its
// plugin and namespace: what it needs before its instance runs.
func (n *Node) prepare(ctx context.Context) error {
	for _, d := range []string{n.dir, n.runDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("node: %s: dir: %w", n.name, err)
		}
	}
	if n.fleet() {
		return nil
	}
	if err := n.preparePlugin(ctx); err != nil {
		return err
	}
	return n.createNamespace()
}

// reserveIndex claims a fresh node index for a name not yet in the lab.
func (l *Lab) reserveIndex(name string) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, errors.New("node: lab is closed")
	}
	if reservedName(name) {
		return 0, fmt.Errorf("node: node name %q is taken by the lab's own namespaces (vpc, igw, inet, natgw-N)", name)
	}
	if l.starting[name] || slices.ContainsFunc(l.nodes, func(o *Node) bool { return o.name == name }) {
		return 0, fmt.Errorf("node: node %q already exists", name)
	}
	l.starting[name] = true
	l.nodeCount++
	return l.nodeCount, nil
}

func (l *Lab) newNode(spec Spec, idx int, subnet fakeec2.Subnet) *Node {
	n := &Node{
		lab:    l,
		log:    l.log.With("node", spec.Name),
		spec:   spec,
		index:  idx,
		name:   spec.Name,
		subnet: subnet,
		nsName: l.cfg.Prefix + "-" + spec.Name,
		dir:    filepath.Join(l.dir, spec.Name),
		runDir: filepath.Join(l.runDir, spec.Name),
		qsig:   make(chan struct{}, 1),
		links:  map[string]*eniLink{},
		sem:    make(chan struct{}, l.cfg.PodParallelism),
		// No namespace descriptor until createNamespace opens one: a fleet
		// node never does, and a node discarded before it must not close
		// descriptor 0 (NsHandle's zero value) on the way out.
		nsFD: -1,
	}
	n.ctx, n.cancel = context.WithCancel(l.ctx)
	return n
}

// runInstance launches the node's instance and registers the node under
// it while holding l.mu, so dispatch never sees the instance's first events
// without their node.
func (l *Lab) runInstance(n *Node) (fakeec2.Instance, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fakeec2.Instance{}, errors.New("node: lab is closed")
	}
	inst, err := l.ec2.RunInstance(fakeec2.InstanceSpec{Type: n.spec.InstanceType, SubnetID: n.spec.Subnet, SecurityGroups: []string{l.sgID}})
	if err != nil {
		return fakeec2.Instance{}, fmt.Errorf("node: %s: run %s instance: %w", n.name, n.spec.InstanceType, err)
	}
	n.instanceID = inst.ID
	n.log = n.log.With("instance", n.instanceID)
	l.byInst[inst.ID] = n
	l.nodes = append(l.nodes, n)
	delete(l.starting, n.name)
	return inst, nil
}

// boot brings the instance up as EC2 would, then starts the ENI link worker
// and ipamd.
func (n *Node) boot(ctx context.Context, inst fakeec2.Instance) error {
	if n.fleet() {
		return n.bootFleet(ctx)
	}
	if err := n.plugPrimary(inst); err != nil {
		return err
	}
	if err := n.startEndpoints(); err != nil {
		return err
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.work()
	}()
	if n.lab.cfg.noIPAMD {
		n.ipamdCfg = config.Default()
		return nil
	}
	// The trunk ENI is attached before ipamd starts, so ipamd's restore
	// finds it at once (upstream's controller attaches it once ipamd has
	// labelled the node, and ipamd finds it at a later reconcile, which a
	// busy warm pool can put off for long). Attaching it is an EC2 write:
	// it waits for the node's turn, as ipamd's calls do.
	if n.podENIEnabled() {
		if err := n.awaitEC2Turn(ctx); err != nil {
			return err
		}
	}
	n.lab.resourceController().nodeJoined(ctx, n)
	return n.startIPAMD(ctx)
}

// discard removes a node that did not come up from the lab, the kernel and
// EC2.
func (l *Lab) discard(n *Node) {
	l.mu.Lock()
	delete(l.starting, n.name)
	if n.instanceID != "" {
		delete(l.byInst, n.instanceID)
	}
	if i := slices.Index(l.nodes, n); i >= 0 {
		l.nodes = slices.Delete(l.nodes, i, i+1)
	}
	l.mu.Unlock()
	_ = n.close()
	if n.instanceID != "" {
		_ = l.ec2.TerminateInstance(n.instanceID)
	}
}

// createNamespace makes the node namespace look like an instance's: lo up
// with the IMDS and EC2 endpoint addresses, forwarding on (pods are routed),
// and permissive reverse-path filtering (the VPC, not the node, enforces
// source checks; aws-node sets eth0 to loose mode for the same reason).
func (n *Node) createNamespace() error {
	p, err := nsutil.NewNamed(n.nsName)
	if err != nil {
		return fmt.Errorf("node: %s: %w", n.name, err)
	}
	n.nsPath = p
	n.h, err = nsutil.Handle(p)
	if err != nil {
		return fmt.Errorf("node: %s: %w", n.name, err)
	}
	n.nsFD, err = netns.GetFromPath(p)
	if err != nil {
		return fmt.Errorf("node: %s: open namespace: %w", n.name, err)
	}
	lo, err := n.h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("node: %s: lo: %w", n.name, err)
	}
	if err := n.h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("node: %s: lo up: %w", n.name, err)
	}
	for _, hp := range []string{IMDSAddr, EC2Addr} {
		ap := netip.MustParseAddrPort(hp)
		if err := n.h.AddrAdd(lo, &netlink.Addr{IPNet: kernel.HostNet(ap.Addr())}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("node: %s: address %s on lo: %w", n.name, ap.Addr(), err)
		}
	}
	err = nsutil.Do(p, func() error {
		return writeSysctls(map[string]string{
			"net/ipv4/ip_forward":             "1",
			"net/ipv4/conf/all/rp_filter":     "0",
			"net/ipv4/conf/default/rp_filter": "0",
			"net/ipv4/conf/all/arp_ignore":    "0",
		})
	})
	if err != nil {
		return fmt.Errorf("node: %s: %w", n.name, err)
	}
	return nil
}

// plugPrimary creates eth0 for the primary ENI as the instance boots with
// it: up, primary IP with the subnet mask, default route via the gateway.
func (n *Node) plugPrimary(inst fakeec2.Instance) error {
	i := slices.IndexFunc(inst.ENIs, func(e fakeec2.ENI) bool { return e.DeviceIndex == 0 && e.NetworkCard == 0 })
	if i < 0 {
		return fmt.Errorf("node: %s: instance %s has no primary ENI", n.name, inst.ID)
	}
	primary := inst.ENIs[i]
	link, err := n.createLink(primary)
	if err != nil {
		return err
	}
	eth0, err := n.h.LinkByName(link.name)
	if err != nil {
		return fmt.Errorf("node: %s: %s: %w", n.name, link.name, err)
	}
	if err := n.h.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("node: %s: %s up: %w", n.name, link.name, err)
	}
	sub := primary.SubnetCIDR
	if !sub.IsValid() {
		sub = n.subnet.CIDR
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(primary.PrimaryIP.AsSlice()), Mask: net.CIDRMask(sub.Bits(), 32)}}
	if err := n.h.AddrAdd(eth0, addr); err != nil {
		return fmt.Errorf("node: %s: address %s on eth0: %w", n.name, addr.IPNet, err)
	}
	gw := sub.Masked().Addr().Next()
	if err := n.h.RouteReplace(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: net.IP(gw.AsSlice())}); err != nil {
		return fmt.Errorf("node: %s: default via %s: %w", n.name, gw, err)
	}
	if n.lab.cfg.VPC.IPv6 {
		return n.setupIPv6(eth0)
	}
	return nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// InstanceID returns the EC2 instance id.
func (n *Node) InstanceID() string { return n.instanceID }

// InstanceType returns the EC2 instance type.
func (n *Node) InstanceType() string { return n.spec.InstanceType }

// NetNS returns the path of the node namespace.
func (n *Node) NetNS() string { return n.nsPath }

// NetNSName returns the name of the node namespace (for ip netns exec).
func (n *Node) NetNSName() string { return n.nsName }

// SubnetID returns the subnet of the primary ENI.
func (n *Node) SubnetID() string { return n.subnet.ID }

// IMDSURL is this instance's IMDS in the root namespace (loopback).
func (n *Node) IMDSURL() string { return n.imdsURL }

// Status returns ipamd's figures and the pod counts.
func (n *Node) Status() Status {
	st := n.ipamdStatus()
	out := Status{
		MaxPods:     n.MaxPods(),
		ENIs:        st.ENIs,
		TotalIPs:    st.TotalIPs,
		AssignedIPs: st.AssignedIPs,
		WarmIPs:     st.WarmIPs,
		Prefixes:    st.Prefixes,
	}
	if st.IPv6Prefix.IsValid() {
		out.IPv6Prefixes = 1
	}
	aws := n.IPAMDStatus()
	out.IPAMD, out.IPAMDRestarts = aws.State, aws.Restarts
	for _, p := range n.Pods() {
		switch p.Phase {
		case PhaseReady:
			out.ReadyPods++
		case PhasePending:
			out.PendingPods++
		case PhaseRejected:
			out.RejectedPods++
		}
	}
	return out
}

// close stops pods, ipamd and endpoints and removes the node's namespaces.
func (n *Node) close() error {
	n.once.Do(func() {
		n.cancel()
		var errs []error
		n.mu.Lock()
		pods := slices.Clone(n.pods)
		d := n.daemon
		n.daemon = nil
		logFile := n.ipamdLog
		n.mu.Unlock()
		for _, p := range pods {
			p.stop()
		}
		errs = append(errs, n.closeIPAMDClient())
		if d != nil {
			errs = append(errs, d.Close())
		}
		if logFile != nil {
			errs = append(errs, logFile.Close())
		}
		for _, s := range []*http.Server{n.imdsSrv, n.ec2Srv} {
			if s != nil {
				errs = append(errs, ignoreClosed(s.Close()))
			}
		}
		n.wg.Wait()
		for _, p := range pods {
			errs = append(errs, p.removeNS())
		}
		for _, link := range n.links {
			if link.created && n.lab.backend == BackendVeth {
				_ = n.lab.fabric.removePeer(link.peer)
			}
		}
		if n.h != nil {
			n.h.Close()
		}
		if n.nsFD.IsOpen() {
			n.nsFD.Close()
		}
		n.view.close()
		if n.nsPath != "" {
			errs = append(errs, nsutil.DeleteNamed(n.nsName))
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}
