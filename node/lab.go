package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/fakeec2/chaos"
	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/awsapi"
)

// LabEpoch is where lab time starts; fixed so traces of two runs line up.
var LabEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Lab is one hermetic VPC: fakeec2, the VPC namespace and the nodes.
type Lab struct {
	cfg     LabConfig
	log     *slog.Logger
	clock   clock.Clock
	ec2     *fakeec2.Server
	backend string
	dir     string // temp dir: logs, CNI cache, plugin link
	runDir  string // the nodes' run directories: sockets, checkpoints (rundir.go)
	plugin  string // the lab's aws-cni binary (absolute), nodes link to it
	// ownEgress is the lab's own egress-cni (absolute, ownPlugin), which
	// nodes link to unless their spec names another.
	ownEgress string
	vpcNS     string // namespace name
	vpcPath   string
	fabric    *fabric
	sgID      string
	// egress is the VPC's way out (internet gateway, NAT gateways, the
	// internet); nil when no subnet is public or NAT-gatewayed.
	egress *egress

	ec2Ln  net.Listener
	ec2Srv *http.Server

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stopW  func()
	stopAf func() bool

	mu        sync.Mutex
	nodes     []*Node
	byInst    map[string]*Node
	nodeCount int
	// starting are the names of nodes reserved but not yet in nodes.
	starting  map[string]bool
	subnets   map[string]SubnetSpec
	closed    bool
	closeErr  error
	closeOnce sync.Once

	// cp is the control plane's deployments and unscheduled pods
	// (deploy.go).
	cp controlPlane

	// rc is the VPC resource controller's part (resourcecontroller.go),
	// made on first use.
	rc *resourceCtl
	// sg is the fabric's security group filter (secgroups_enforce.go).
	sg sgEnforcer
	// hosts are the VPC's non-node machines (vpchost.go).
	hosts vpcHosts
}

// awsConfig is the SDK configuration every node's ipamd builds its clients
// from (awsapi.ClientsFrom gives each its own HTTP client), loaded once per
// process: every lab's nodes share the process's environment and files, as
// the ipamds of one process would. Loading it reads the shared files and,
// where AWS_CA_BUNDLE names a system bundle, parses every root in it: about
// 8 ms of CPU, which a test binary or `enilab compare` building many labs
// paid for each.
var awsConfig = sync.OnceValues(func() (aws.Config, error) { return awsapi.LoadConfig(context.Background()) })

// NewLab creates fakeec2 with the VPC, subnets and reservations, the VPC
// namespace, and starts following fakeec2's events. ctx bounds the lab's
// life: when it is cancelled the lab closes itself (call Close as well, to
// wait for the teardown and see its error).
func NewLab(ctx context.Context, cfg LabConfig) (_ *Lab, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node: invalid lab config: %w", err)
	}
	cfg = cfg.withDefaults()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("node: new lab: %w", err)
	}
	if !nsutil.IsRoot() {
		return nil, errors.New("node: a lab needs root (network namespaces)")
	}
	if err := refuseInsidePlugin(os.Args[0], os.Getenv); err != nil {
		return nil, err
	}
	l := &Lab{
		cfg:      cfg,
		log:      cfg.Logger.With("lab", cfg.Prefix),
		clock:    cfg.Clock,
		byInst:   map[string]*Node{},
		starting: map[string]bool{},
		subnets:  map[string]SubnetSpec{},
		vpcNS:    cfg.Prefix + "-vpc",
	}
	if l.clock == nil {
		l.clock = clock.NewScaled(cfg.TimeScale, LabEpoch)
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	// Loading the SDK's configuration takes milliseconds of CPU: the
	// process's first lab does it while the lab is built, not in the first
	// node's start.
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		_, _ = awsConfig()
	}()
	// Everything made so far goes on any way out but success: an error
	// return or a panic passing through.
	up := false
	defer func() {
		if !up {
			_ = l.Close()
		}
	}()

	l.dir, err = os.MkdirTemp("", tempPrefix(cfg.Prefix))
	if err != nil {
		return nil, fmt.Errorf("node: temp dir: %w", err)
	}
	l.runDir, err = makeRunDir(l.dir, cfg.Prefix)
	if err != nil {
		return nil, fmt.Errorf("node: run dir: %w", err)
	}
	// The plugin's probe (an exec) runs while the VPC is built, which is
	// mostly the kernel's work; both are done before anything goes on.
	probed := make(chan error, 1)
	go func() { probed <- l.preparePlugin(ctx) }()
	err = l.buildVPC()
	if err := errors.Join(<-probed, err); err != nil {
		return nil, err
	}
	events, stop := l.ec2.Watch()
	l.stopW = stop
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.dispatch(events)
	}()
	l.stopAf = context.AfterFunc(ctx, func() { _ = l.Close() })
	l.log.Info("lab up", "backend", l.backend, "vpcNS", l.vpcNS, "ec2", l.ec2Ln.Addr().String())
	up = true
	return l, nil
}

// buildVPC starts fakeec2, creates the VPC and its subnets there and
// builds the VPC namespace's fabric.
func (l *Lab) buildVPC() error {
	if err := l.startEC2(); err != nil {
		return err
	}
	if err := l.createVPC(); err != nil {
		return err
	}
	return l.startFabric()
}

func tempPrefix(prefix string) string { return "enilab-" + prefix + "-" }

// startEC2 creates fakeec2 and serves it on loopback in the root
// namespace, for the in-process ipamds.
func (l *Lab) startEC2() error {
	if l.cfg.Interceptor == nil {
		// The counts of Lab.EC2Counters come from a chaos layer; without
		// one the lab has its own, doing nothing but count.
		ctl, err := chaos.New(chaos.Config{Clock: l.clock, Seed: l.cfg.Seed, Throttle: chaos.ThrottleNone, TraceLimit: -1})
		if err != nil {
			return fmt.Errorf("node: %w", err)
		}
		l.cfg.Interceptor = ctl
	}
	var err error
	l.ec2, err = fakeec2.New(fakeec2.Config{
		Seed:        l.cfg.Seed,
		Clock:       l.clock,
		Interceptor: l.cfg.Interceptor,
		IMDSLag:     l.cfg.IMDSLag,
		DescribeLag: l.cfg.DescribeLag,
	})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	l.ec2Ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("node: EC2 listener: %w", err)
	}
	l.ec2Srv = &http.Server{Handler: l.ec2, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: idleConnTimeout}
	l.goServe(l.ec2Srv, l.ec2Ln)
	return nil
}

// startFabric creates the VPC namespace, makes it the subnets' router and
// picks the ENI backend.
func (l *Lab) startFabric() error {
	var err error
	l.vpcPath, err = nsutil.NewNamed(l.vpcNS)
	if err != nil {
		return fmt.Errorf("node: VPC namespace: %w", err)
	}
	l.fabric, err = newFabric(l.vpcPath)
	if err != nil {
		return err
	}
	var gws []netip.Addr
	for _, s := range l.ec2.Subnets() {
		gws = append(gws, s.CIDR.Addr().Next())
	}
	if err := l.fabric.setup(gws); err != nil {
		return err
	}
	if l.cfg.VPC.IPv6 {
		l.fabric.ipv6 = true
		if err := l.fabric.setupIPv6(); err != nil {
			return err
		}
	}
	l.backend, err = l.chooseBackend()
	if err != nil {
		return err
	}
	return l.startEgress()
}

func (l *Lab) createVPC() error {
	vpc, err := l.ec2.CreateVPC(fakeec2.VPCSpec{CIDR: l.cfg.VPC.CIDR, SecondaryCIDRs: l.cfg.VPC.SecondaryCIDRs})
	if err != nil {
		return fmt.Errorf("node: create VPC %s: %w", l.cfg.VPC.CIDR, err)
	}
	for _, s := range l.cfg.Subnets {
		if _, err := l.ec2.CreateSubnet(fakeec2.SubnetSpec{ID: s.ID, VPCID: vpc.ID, CIDR: s.CIDR, AZ: s.AZ, Tags: s.Tags, MapPublicIPOnLaunch: s.Public}); err != nil {
			return fmt.Errorf("node: create subnet %s (%s): %w", s.ID, s.CIDR, err)
		}
		l.subnets[s.ID] = s
	}
	if l.cfg.VPC.IPv6 {
		if err := l.createIPv6Blocks(vpc.ID); err != nil {
			return err
		}
	}
	for _, r := range l.cfg.Reservations {
		if err := l.ec2.CreateSubnetCIDRReservation(r.Subnet, r.CIDR, r.Type); err != nil {
			return fmt.Errorf("node: reserve %s in %s: %w", r.CIDR, r.Subnet, err)
		}
	}
	if err := l.createWayOut(vpc.ID); err != nil {
		return err
	}
	l.sgID, err = l.ec2.CreateSecurityGroup(l.cfg.Prefix+"-nodes", vpc.ID)
	if err != nil {
		return fmt.Errorf("node: create node security group: %w", err)
	}
	// ENIConfigs name groups by id; ipamd's CreateNetworkInterface fails
	// with InvalidGroup.NotFound unless they exist. fakeec2 keeps an
	// "sg-…" name as the id.
	made := map[string]bool{}
	for _, ec := range l.cfg.ENIConfigs {
		for _, sg := range ec.SecurityGroups {
			if made[sg] {
				continue
			}
			made[sg] = true
			id, err := l.ec2.CreateSecurityGroup(sg, vpc.ID)
			if err != nil {
				return fmt.Errorf("node: create security group %s of ENIConfig %s: %w", sg, ec.Name, err)
			}
			if id != sg {
				return fmt.Errorf("node: security group %s of ENIConfig %s: fakeec2 gave it id %s", sg, ec.Name, id)
			}
		}
	}
	return nil
}

func (l *Lab) chooseBackend() (string, error) {
	want := l.cfg.Backend
	if want == "" {
		switch env := os.Getenv(BackendEnv); env {
		case "", BackendVeth, BackendDummy:
			want = env
		default:
			return "", fmt.Errorf("node: %s=%q: want veth or dummy", BackendEnv, env)
		}
	}
	switch want {
	case BackendDummy:
		if err := l.fabric.probeDummy(); err != nil {
			return "", fmt.Errorf("node: dummy backend unavailable on this kernel: %w", err)
		}
		return BackendDummy, nil
	case BackendVeth:
		if err := l.fabric.probeVeth(); err != nil {
			return "", fmt.Errorf("node: veth backend unavailable on this kernel: %w", err)
		}
		return BackendVeth, nil
	}
	if l.fabric.probeVeth() == nil {
		return BackendVeth, nil
	}
	if err := l.fabric.probeDummy(); err != nil {
		return "", fmt.Errorf("node: neither veth nor dummy links work on this kernel: %w", err)
	}
	return BackendDummy, nil
}

// goServe serves fakeec2 on ln until the lab closes; a listener that
// stops before that (an accept error) is logged, since every EC2 call of
// the lab's ipamds is refused from then on.
func (l *Lab) goServe(srv *http.Server, ln net.Listener) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			l.log.Error("fakeec2's EC2 listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// dispatch hands every fakeec2 event to the node of its instance, in commit
// order. AddNode registers a node while holding l.mu across RunInstance, so
// an instance's first events never find it missing.
func (l *Lab) dispatch(events <-chan fakeec2.Event) {
	for ev := range events {
		l.mu.Lock()
		n := l.byInst[ev.InstanceID]
		if n == nil && ev.ENI.InstanceID != "" {
			n = l.byInst[ev.ENI.InstanceID]
		}
		l.mu.Unlock()
		if n != nil {
			n.enqueue(ev)
		}
		if l.egress != nil {
			l.egress.resync()
		}
		if err := l.syncSecurityGroups(); err != nil {
			l.log.Warn("security groups", "err", err)
		}
	}
}

// Prefix returns the lab's name prefix.
func (l *Lab) Prefix() string { return l.cfg.Prefix }

// Backend returns the ENI backend in use ("veth" or "dummy"); with dummy
// there is no traffic between nodes.
func (l *Lab) Backend() string { return l.backend }

// EC2 returns the lab's fakeec2.
func (l *Lab) EC2() *fakeec2.Server { return l.ec2 }

// EC2URL is the loopback URL of fakeec2 in the root namespace.
func (l *Lab) EC2URL() string { return "http://" + l.ec2Ln.Addr().String() }

// Clock returns the lab clock.
func (l *Lab) Clock() clock.Clock { return l.clock }

// VPCNetNS returns the path of the VPC namespace.
func (l *Lab) VPCNetNS() string { return l.vpcPath }

// Dir is the lab's temporary directory (sockets, checkpoints, CNI cache).
func (l *Lab) Dir() string { return l.dir }

// EC2Counters are the chaos layer's counts of EC2 calls by action and
// errors by code; zero when LabConfig.Interceptor is not a
// *chaos.Controller.
func (l *Lab) EC2Counters() chaos.Counters {
	if c, ok := l.cfg.Interceptor.(*chaos.Controller); ok {
		return c.Counters()
	}
	return chaos.Counters{}
}

// Node returns the named node.
func (l *Lab) Node(name string) (*Node, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.nodes {
		if n.name == name {
			return n, true
		}
	}
	return nil, false
}

// Nodes returns the nodes in creation order.
func (l *Lab) Nodes() []*Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.nodes)
}

// Pod finds a pod by its "<node>/pod-<n>" name.
func (l *Lab) Pod(name string) (PodStatus, bool) {
	nodeName, _, err := datapath.ParsePodName(name)
	if err != nil {
		return PodStatus{}, false
	}
	n, ok := l.Node(nodeName)
	if !ok {
		return PodStatus{}, false
	}
	return n.Pod(name)
}

// Close tears the lab down: pods, ipamds, listeners, namespaces (and with
// them every link), fakeec2 and the temporary directory. It is idempotent
// and safe to call from a deferred function on a panic path.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		nodes := slices.Clone(l.nodes)
		l.mu.Unlock()
		if l.stopAf != nil {
			l.stopAf()
		}
		l.cancel()
		var errs []error
		for i := len(nodes) - 1; i >= 0; i-- {
			errs = append(errs, nodes[i].close())
		}
		if l.stopW != nil {
			l.stopW()
		}
		if l.ec2Srv != nil {
			errs = append(errs, ignoreClosed(l.ec2Srv.Close()))
		}
		if l.ec2 != nil {
			errs = append(errs, l.ec2.Close())
		}
		if l.egress != nil {
			l.egress.stopEcho()
		}
		l.wg.Wait()
		errs = append(errs, l.closeHosts())
		if l.egress != nil {
			errs = append(errs, l.egress.close())
		}
		if l.fabric != nil {
			l.fabric.close()
		}
		if l.vpcPath != "" {
			errs = append(errs, nsutil.DeleteNamed(l.vpcNS))
		}
		if l.runDir != "" && l.runDir != l.dir {
			errs = append(errs, os.RemoveAll(l.runDir))
		}
		if l.dir != "" {
			errs = append(errs, os.RemoveAll(l.dir))
		}
		l.closeErr = errors.Join(errs...)
		if l.closeErr != nil {
			l.closeErr = fmt.Errorf("node: close lab %s: %w", l.cfg.Prefix, l.closeErr)
		}
	})
	return l.closeErr
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
