package node

import (
	"context"
	"errors"
	"fmt"
	"github.com/enilab/enilab/ipamd/config"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/internal/ec2limits"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd"
)

// ZoneLabel is the node label ENIConfig selection reads by default.
const ZoneLabel = "topology.kubernetes.io/zone"

// Node is one EC2 instance: its namespace, ENI links, endpoints, ipamd and
// pods.
type Node struct {
	lab        *Lab
	log        *slog.Logger
	spec       NodeSpec
	index      int
	name       string
	instanceID string
	subnet     fakeec2.Subnet
	nsName     string
	nsPath     string
	dir        string
	h          *netlink.Handle
	nsFD       netns.NsHandle

	imdsSrv *http.Server
	ec2Srv  *http.Server
	imdsURL string // root-namespace IMDS of this instance, for ipamd

	ipamdCfg  config.Config
	ipamdOpts ipamd.Options

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

	mu       sync.Mutex // guards daemon, pods, seq, lastStat
	daemon   *ipamd.Daemon
	lastStat ipamd.Status
	pods     []*pod
	podSeq   int
	attempts int
	sem      chan struct{}
}

// eniLink is an ENI attached to this node and the link standing for it.
type eniLink struct {
	id      string
	device  int
	mac     net.HardwareAddr
	name    string // eth<device>
	peer    string // VPC-side veth name
	due     time.Time
	created bool
}

// NodeStatus is the node as `enilab` reports it.
type NodeStatus struct {
	MaxPods      int
	ENIs         int
	TotalIPs     int
	AssignedIPs  int
	WarmIPs      int
	Prefixes     int
	ReadyPods    int
	PendingPods  int
	RejectedPods int
}

// AddNode launches an instance and builds its node: namespace, eth0 with
// the primary IP, endpoints, ipamd. It returns once ipamd serves.
func (l *Lab) AddNode(ctx context.Context, spec NodeSpec) (_ *Node, err error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("node: invalid node spec: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("node: add node %s: %w", spec.Name, err)
	}
	if spec.Subnet == "" && len(l.cfg.Subnets) > 0 {
		spec.Subnet = l.cfg.Subnets[0].ID
	}
	subnet, ok := l.ec2.Subnet(spec.Subnet)
	if !ok {
		return nil, fmt.Errorf("node: node %s: unknown subnet %q", spec.Name, spec.Subnet)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("node: lab is closed")
	}
	for _, o := range l.nodes {
		if o.name == spec.Name {
			l.mu.Unlock()
			return nil, fmt.Errorf("node: node %q already exists", spec.Name)
		}
	}
	l.nodeCount++
	idx := l.nodeCount
	l.mu.Unlock()

	n := &Node{
		lab:    l,
		log:    l.log.With("node", spec.Name),
		spec:   spec,
		index:  idx,
		name:   spec.Name,
		subnet: subnet,
		nsName: l.cfg.Prefix + "-" + spec.Name,
		dir:    filepath.Join(l.dir, spec.Name),
		qsig:   make(chan struct{}, 1),
		links:  map[string]*eniLink{},
		sem:    make(chan struct{}, l.cfg.PodParallelism),
	}
	n.ctx, n.cancel = context.WithCancel(l.ctx)
	// A node that does not come up (error or panic) leaves nothing: not in
	// the lab, not in EC2, not in the kernel.
	up := false
	defer func() {
		if !up {
			l.mu.Lock()
			if n.instanceID != "" {
				delete(l.byInst, n.instanceID)
			}
			for i, o := range l.nodes {
				if o == n {
					l.nodes = append(l.nodes[:i], l.nodes[i+1:]...)
					break
				}
			}
			l.mu.Unlock()
			_ = n.close()
			if n.instanceID != "" {
				_ = l.ec2.TerminateInstance(n.instanceID)
			}
		}
	}()
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return nil, fmt.Errorf("node: %s: dir: %w", n.name, err)
	}
	if err := n.createNamespace(); err != nil {
		return nil, err
	}

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("node: lab is closed")
	}
	inst, err := l.ec2.RunInstance(fakeec2.InstanceSpec{Type: spec.InstanceType, SubnetID: spec.Subnet, SecurityGroups: []string{l.sgID}})
	if err == nil {
		n.instanceID = inst.ID
		l.byInst[inst.ID] = n
		l.nodes = append(l.nodes, n)
	}
	l.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("node: %s: run %s instance: %w", n.name, spec.InstanceType, err)
	}
	n.log = n.log.With("instance", n.instanceID)

	if err := n.plugPrimary(inst); err != nil {
		return nil, err
	}
	if err := n.startEndpoints(); err != nil {
		return nil, err
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.work()
	}()
	if l.cfg.noIPAMD {
		n.ipamdCfg = config.Default()
	} else if err := n.startIPAMD(ctx); err != nil {
		return nil, err
	}
	n.log.Info("node up", "type", spec.InstanceType, "primaryIP", inst.PrimaryIP, "netns", n.nsName)
	up = true
	return n, nil
}

// createNamespace makes the node namespace look like an instance's: lo up
// with the IMDS and EC2 endpoint addresses, forwarding on (pods are routed),
// and permissive reverse-path filtering (the VPC, not the node, enforces
// source checks; aws-node sets eth0 to loose mode for the same reason).
func (n *Node) createNamespace() error {
	p, err := nsutil.NewNamed(n.nsName)
	if err != nil {
		return fmt.Errorf("node: %s: namespace: %w", n.name, err)
	}
	n.nsPath = p
	n.h, err = nsutil.Handle(p)
	if err != nil {
		return err
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
		if err := n.h.AddrAdd(lo, &netlink.Addr{IPNet: hostNet(ap.Addr())}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("node: %s: address %s on lo: %w", n.name, ap.Addr(), err)
		}
	}
	return nsutil.Do(p, func() error {
		return writeSysctls(map[string]string{
			"net/ipv4/ip_forward":             "1",
			"net/ipv4/conf/all/rp_filter":     "0",
			"net/ipv4/conf/default/rp_filter": "0",
			"net/ipv4/conf/all/arp_ignore":    "0",
		})
	})
}

// plugPrimary creates eth0 for the primary ENI as the instance boots with
// it: up, primary IP with the subnet mask, default route via the gateway.
func (n *Node) plugPrimary(inst fakeec2.Instance) error {
	var primary fakeec2.ENI
	found := false
	for _, e := range inst.ENIs {
		if e.DeviceIndex == 0 && e.NetworkCard == 0 {
			primary, found = e, true
		}
	}
	if !found {
		return fmt.Errorf("node: %s: instance %s has no primary ENI", n.name, inst.ID)
	}
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
	return nil
}

// createLink makes the ENI's link now and routes its addresses to it.
func (n *Node) createLink(e fakeec2.ENI) (*eniLink, error) {
	mac, err := net.ParseMAC(e.MAC)
	if err != nil {
		return nil, fmt.Errorf("node: %s: ENI %s MAC %q: %w", n.name, e.ID, e.MAC, err)
	}
	n.peerSeq++
	link := &eniLink{
		id:     e.ID,
		device: e.DeviceIndex,
		mac:    mac,
		name:   fmt.Sprintf("eth%d", e.DeviceIndex),
		peer:   fmt.Sprintf("n%dx%d", n.index, n.peerSeq),
	}
	if err := n.lab.fabric.addENILink(n.lab.backend, n.h, n.nsFD, link.name, link.peer, mac); err != nil {
		return nil, fmt.Errorf("node: %s: ENI %s: %w", n.name, e.ID, err)
	}
	link.created = true
	n.links[e.ID] = link
	if err := n.syncLink(link); err != nil {
		return link, err
	}
	n.log.Debug("ENI link up", "eni", e.ID, "link", link.name, "mac", e.MAC)
	return link, nil
}

func (n *Node) syncLink(link *eniLink) error {
	if n.lab.backend != BackendVeth || !link.created {
		return nil
	}
	id := link.id
	return n.lab.fabric.syncRoutes(link.peer, func() (fakeec2.ENI, bool) {
		e, ok := n.lab.ec2.ENI(id)
		if ok && e.InstanceID != n.instanceID {
			return fakeec2.ENI{}, false
		}
		return e, ok
	})
}

func (n *Node) removeLink(link *eniLink) error {
	delete(n.links, link.id)
	if !link.created {
		return nil
	}
	if n.lab.backend == BackendVeth {
		return n.lab.fabric.removePeer(link.peer)
	}
	l, err := n.h.LinkByName(link.name)
	if err != nil {
		return nil
	}
	return n.h.LinkDel(l)
}

func (n *Node) enqueue(ev fakeec2.Event) {
	n.qmu.Lock()
	n.queue = append(n.queue, ev)
	n.qmu.Unlock()
	select {
	case n.qsig <- struct{}{}:
	default:
	}
}

// work applies fakeec2's events to the node's links in commit order; an
// attach becomes a link only HotplugDelay later, without holding up the
// events behind it.
func (n *Node) work() {
	c := n.lab.clock
	for {
		n.qmu.Lock()
		batch := n.queue
		n.queue = nil
		n.qmu.Unlock()
		for _, ev := range batch {
			n.apply(ev)
		}
		var next time.Time
		now := c.Now()
		for _, link := range n.links {
			if link.created {
				continue
			}
			if !link.due.After(now) {
				e, ok := n.lab.ec2.ENI(link.id)
				delete(n.links, link.id)
				if ok && e.InstanceID == n.instanceID {
					if _, err := n.createLink(e); err != nil {
						n.log.Error("hot-plug ENI link", "eni", link.id, "err", err)
					}
				}
				continue
			}
			if next.IsZero() || link.due.Before(next) {
				next = link.due
			}
		}
		var timer clock.Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			timer = c.NewTimer(next.Sub(now))
			fire = timer.C()
		}
		select {
		case <-n.ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-n.qsig:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

func (n *Node) apply(ev fakeec2.Event) {
	link := n.links[ev.ENI.ID]
	switch ev.Kind {
	case fakeec2.ENIAttached:
		if link != nil {
			if err := n.syncLink(link); err != nil {
				n.log.Error("VPC routes", "eni", ev.ENI.ID, "err", err)
			}
			return
		}
		n.links[ev.ENI.ID] = &eniLink{id: ev.ENI.ID, device: ev.ENI.DeviceIndex, due: n.lab.clock.Now().Add(n.lab.cfg.HotplugDelay)}
	case fakeec2.AddressesChanged:
		if link != nil {
			if err := n.syncLink(link); err != nil {
				n.log.Error("VPC routes", "eni", ev.ENI.ID, "err", err)
			}
		}
	case fakeec2.ENIDetached, fakeec2.ENIDeleted:
		if link != nil {
			if err := n.removeLink(link); err != nil {
				n.log.Error("unplug ENI link", "eni", ev.ENI.ID, "err", err)
			}
		}
	case fakeec2.InstanceTerminated:
		for _, l := range n.links {
			_ = n.removeLink(l)
		}
	}
}

// startEndpoints serves IMDS at 169.254.169.254:80 and EC2 at EC2Addr inside
// the namespace (listeners opened on a thread inside it stay there), and
// this instance's IMDS on loopback for the in-process ipamd.
func (n *Node) startEndpoints() error {
	var imdsLn, ec2Ln net.Listener
	err := nsutil.Do(n.nsPath, func() error {
		var err error
		if imdsLn, err = net.Listen("tcp", IMDSAddr); err != nil {
			return err
		}
		ec2Ln, err = net.Listen("tcp", EC2Addr)
		return err
	})
	if err != nil {
		if imdsLn != nil {
			imdsLn.Close()
		}
		return fmt.Errorf("node: %s: endpoints in namespace: %w", n.name, err)
	}
	rootLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		imdsLn.Close()
		ec2Ln.Close()
		return fmt.Errorf("node: %s: IMDS listener: %w", n.name, err)
	}
	n.imdsURL = "http://" + rootLn.Addr().String()
	n.imdsSrv = &http.Server{Handler: n.lab.ec2.IMDS(n.instanceID), ReadHeaderTimeout: 10 * time.Second}
	n.ec2Srv = &http.Server{Handler: n.lab.ec2, ReadHeaderTimeout: 10 * time.Second}
	for _, s := range []struct {
		srv *http.Server
		ln  net.Listener
	}{{n.imdsSrv, imdsLn}, {n.imdsSrv, rootLn}, {n.ec2Srv, ec2Ln}} {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			_ = s.srv.Serve(s.ln)
		}()
	}
	return nil
}

func (n *Node) startIPAMD(ctx context.Context) error {
	env := map[string]string{}
	for k, v := range n.lab.cfg.IPAMDEnv {
		env[k] = v
	}
	for k, v := range n.spec.IPAMDEnv {
		env[k] = v
	}
	cfg, err := config.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return fmt.Errorf("node: %s: ipamd environment: %w", n.name, err)
	}
	labels := map[string]string{ZoneLabel: n.subnet.AZ}
	for k, v := range n.spec.Labels {
		labels[k] = v
	}
	n.ipamdCfg = cfg
	n.ipamdOpts = ipamd.Options{
		Clock:             n.lab.clock,
		EC2Endpoint:       n.lab.EC2URL(),
		IMDSEndpoint:      n.imdsURL,
		SocketPath:        filepath.Join(n.dir, "ipamd.sock"),
		CheckpointPath:    filepath.Join(n.dir, "ipam.json"),
		IntrospectionAddr: "127.0.0.1:0",
		MetricsAddr:       "127.0.0.1:0",
		NetNSPath:         n.nsPath,
		NodeLabels:        labels,
		ENIConfigs:        n.lab.cfg.ENIConfigs,
		MaxPods:           n.spec.MaxPods,
		Logger:            n.log.With("component", "ipamd"),
	}
	return n.newIPAMD(ctx)
}

func (n *Node) newIPAMD(ctx context.Context) error {
	// ctx bounds ipamd's start-up only (its life is its own until Close);
	// the node closing aborts a start-up too.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(n.ctx, cancel)()
	d, err := ipamd.New(sctx, n.ipamdCfg, n.ipamdOpts)
	if err != nil {
		return fmt.Errorf("node: %s: start ipamd: %w", n.name, err)
	}
	n.mu.Lock()
	n.daemon = d
	n.mu.Unlock()
	return nil
}

// RestartIPAMD kills ipamd and starts it again with the same checkpoint, as
// a DaemonSet pod restart does; pods keep running meanwhile.
func (n *Node) RestartIPAMD(ctx context.Context) error {
	n.mu.Lock()
	d := n.daemon
	n.daemon = nil
	if d != nil {
		n.lastStat = d.Status()
	}
	n.mu.Unlock()
	if d != nil {
		if err := d.Close(); err != nil {
			n.log.Warn("ipamd close", "err", err)
		}
	}
	if err := n.ctx.Err(); err != nil {
		return fmt.Errorf("node: %s: restart ipamd: %w", n.name, err)
	}
	return n.newIPAMD(ctx)
}

// IPAMD returns the node's running ipamd (nil while it restarts).
func (n *Node) IPAMD() *ipamd.Daemon {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.daemon
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

// MaxPods is the kubelet's maxPods: the spec's value, else ipamd's.
func (n *Node) MaxPods() int {
	if n.spec.MaxPods > 0 {
		return n.spec.MaxPods
	}
	n.mu.Lock()
	d, last := n.daemon, n.lastStat
	n.mu.Unlock()
	if d != nil {
		if m := d.Status().MaxPods; m > 0 {
			return m
		}
	}
	if last.MaxPods > 0 {
		return last.MaxPods
	}
	return computedMaxPods(n.spec.InstanceType, n.ipamdCfg)
}

// computedMaxPods is DESIGN §3's formula, used only while ipamd cannot say.
func computedMaxPods(instanceType string, cfg config.Config) int {
	t, ok := ec2limits.Lookup(instanceType)
	if !ok {
		return 0
	}
	if cfg.EnablePrefixDelegation {
		return 110
	}
	enis := t.MaxENIs
	if cfg.MaxENI > 0 && cfg.MaxENI < enis {
		enis = cfg.MaxENI
	}
	if cfg.CustomNetworking {
		enis--
	}
	return enis*(t.IPv4PerENI-1) + 2
}

// Status returns ipamd's figures and the pod counts.
func (n *Node) Status() NodeStatus {
	n.mu.Lock()
	d, st := n.daemon, n.lastStat
	n.mu.Unlock()
	if d != nil {
		st = d.Status()
	}
	out := NodeStatus{
		MaxPods:     n.MaxPods(),
		ENIs:        st.ENIs,
		TotalIPs:    st.TotalIPs,
		AssignedIPs: st.AssignedIPs,
		WarmIPs:     st.WarmIPs,
		Prefixes:    st.Prefixes,
	}
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
		pods := append([]*pod(nil), n.pods...)
		d := n.daemon
		n.daemon = nil
		n.mu.Unlock()
		for _, p := range pods {
			p.stop()
		}
		if d != nil {
			errs = append(errs, d.Close())
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
		if n.nsPath != "" {
			errs = append(errs, nsutil.DeleteNamed(n.nsName))
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}
