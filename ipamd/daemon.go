package ipamd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"google.golang.org/grpc"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/config"
	"github.com/enilab/enilab/ipamd/datastore"
	"github.com/enilab/enilab/ipamd/pool"
)

// Options are how a daemon is wired into its surroundings (as opposed to
// config.Config, its tuning). Zero values take the upstream defaults.
type Options struct {
	Clock             clock.Clock
	EC2Endpoint       string // SDK base endpoint for EC2; "" = SDK's own resolution (AWS_ENDPOINT_URL_EC2 …)
	IMDSEndpoint      string // "" = SDK's own (AWS_EC2_METADATA_SERVICE_ENDPOINT or 169.254.169.254)
	SocketPath        string // default /var/run/aws-node/ipamd.sock
	CheckpointPath    string // default /var/run/aws-node/ipam.json
	IntrospectionAddr string // default 127.0.0.1:61679; "off" disables
	MetricsAddr       string // default :61678; "off" disables
	NetNSPath         string // node namespace where ENI links live; "" = current; "none" = no node networking
	NodeLabels        map[string]string
	NodeAnnotations   map[string]string // read for ENI_CONFIG_ANNOTATION_DEF
	ENIConfigs        []config.ENIConfig
	MaxPods           int // node's explicit maxPods; 0 = computed (DESIGN §3)
	// PodENI reads a pod's vpc.amazonaws.com/pod-eni annotation
	// (ENABLE_POD_ENI); nil = no pod has one.
	PodENI PodENILookup
	Logger *slog.Logger
	// AWSConfig is the SDK configuration the clients are built from; nil
	// loads it (awsapi.LoadConfig), as aws-node does at start. A lab loads
	// it once for all its nodes: they share the process's environment.
	AWSConfig *aws.Config

	// Listen opens the introspection and metrics listeners; nil =
	// net.Listen. A lab passes one that listens inside the node's network
	// namespace, where aws-node (a host-network pod) listens on a node.
	Listen func(network, addr string) (net.Listener, error)

	// VethExists, when set, replaces the look-up of a pod's host veth in
	// NetNSPath during restore (tests without namespaces use it).
	VethExists func(name string) (bool, error)

	// starting, when set (by this package's tests), is given the Daemon
	// before start-up begins, so a test driving a fake clock can see
	// start-up asleep in a back-off (Daemon.sleepers) and advance lab time.
	starting func(*Daemon)
}

// Defaults of Options.
const (
	DefaultSocketPath        = "/var/run/aws-node/ipamd.sock"
	DefaultCheckpointPath    = "/var/run/aws-node/ipam.json"
	DefaultIntrospectionAddr = "127.0.0.1:61679"
	DefaultMetricsAddr       = ":61678"
	// NoNetNS as Options.NetNSPath turns node networking off.
	NoNetNS = "none"
	// Off as an address disables that listener.
	Off = "off"
)

// Status is a snapshot of the node's pool, in the terms scenarios assert.
// WarmIPs = TotalIPs − AssignedIPs; in prefix mode TotalIPs = Prefixes × 16.
type Status struct {
	InstanceID   string
	InstanceType string
	// MaxPods is the node's effective max pods: Options.MaxPods when set,
	// else pool.MaxPods of the instance type (DESIGN §3). It is the one
	// max-pods figure; other packages read it here.
	MaxPods     int
	MaxENIs     int
	ENIs        int
	TotalIPs    int
	AssignedIPs int
	WarmIPs     int
	Prefixes    int
	// IPv6Prefix is the primary ENI's /80 in IPv6 mode (then Prefixes,
	// which counts /28s, is 0, and TotalIPs equals AssignedIPs: there is
	// no warm pool).
	IPv6Prefix netip.Prefix
}

// ec2API is the EC2 surface the daemon uses (awsapi.EC2 implements it).
type ec2API interface {
	DescribeInstanceType(ctx context.Context, name string) (awsapi.InstanceLimits, error)
	AttachedENIs(ctx context.Context, instanceID string) ([]awsapi.ENI, error)
	DescribeENI(ctx context.Context, id string) (awsapi.ENI, error)
	FreeDeviceIndex(ctx context.Context, instanceID string, networkCard int) (int, error)
	LeakedENIs(ctx context.Context, vpcID, cluster string) ([]awsapi.ENI, error)
	Subnets(ctx context.Context, vpcID, az string) ([]awsapi.Subnet, error)
	CreateENI(ctx context.Context, s awsapi.CreateSpec) (awsapi.ENI, error)
	AttachENI(ctx context.Context, eniID, instanceID string, device int) (string, error)
	SetDeleteOnTermination(ctx context.Context, eniID, attachmentID string) error
	SetSecurityGroups(ctx context.Context, eniID string, groups []string) error
	DetachENI(ctx context.Context, attachmentID string) error
	DeleteENI(ctx context.Context, eniID string) error
	AssignIPs(ctx context.Context, eniID string, n int) ([]netip.Addr, error)
	AssignPrefixes(ctx context.Context, eniID string, n int) ([]netip.Prefix, error)
	Unassign(ctx context.Context, eniID string, ips []netip.Addr, prefixes []netip.Prefix) error
	CreateTags(ctx context.Context, id string, tags map[string]string) error
	IPv6Prefixes(ctx context.Context, eniID string) ([]netip.Prefix, error)
	AssignIPv6Prefix(ctx context.Context, eniID string) ([]netip.Prefix, error)
}

// imdsAPI is the IMDS surface the daemon uses (awsapi.IMDS implements it).
type imdsAPI interface {
	Identity(ctx context.Context) (awsapi.Identity, error)
	PrimaryMAC(ctx context.Context) (string, error)
	SecurityGroups(ctx context.Context, mac string) ([]string, error)
	// Get reads one meta-data path (AddNetwork's VPC CIDRs).
	Get(ctx context.Context, path string) (string, error)
	ENI(ctx context.Context, mac string) (awsapi.ENIMeta, error)
	ENIs(ctx context.Context) ([]awsapi.ENIMeta, error)
}

// Daemon is one running ipamd.
type Daemon struct {
	cfg     config.Config
	opts    Options
	clock   clock.Clock
	log     *slog.Logger
	ec2     ec2API
	imds    imdsAPI
	store   *datastore.Store
	v6      *datastore.V6Pool // IPv6 mode only; then store stays empty
	metrics *metrics
	params  pool.Params

	identity   awsapi.Identity
	limits     awsapi.InstanceLimits
	maxENIs    int
	maxPods    int
	primary    awsapi.ENIMeta
	vpcCIDRs   []netip.Prefix
	eniConfig  *config.ENIConfig
	eniCfgName string

	// pm is the pool manager; its state is its loop goroutine's alone.
	pm *poolManager

	// trunkMAC is the trunk ENI's MAC once the pool manager saw it
	// (podeni.go).
	trunkMu  sync.Mutex
	trunkMAC string

	grpcServer *grpc.Server
	grpcLis    net.Listener
	// exited receives one value when gRPC serving ends: its error when it
	// failed on its own (upstream's RunRPCHandler returns and aws-node
	// exits), nil after Close.
	exited     chan error
	socketPath string
	introSrv   *http.Server
	introAddr  string
	metricSrv  *http.Server
	metricAddr string

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	// The pool manager's schedule: New creates the ticker and timer, the
	// pool manager's loop reads them, Close stops them. waiting and
	// sleepers tell a test driving a fake clock that the daemon is quiescent
	// (see sleepClock).
	waiting   atomic.Bool
	sleepers  atomic.Int32
	sleep     clock.Clock // d.clock, counting sleeps
	poolTick  clock.Ticker
	leakTimer clock.Timer
	cidrTick  clock.Ticker // VPCCIDRPeriod: the VPC CIDR refresh
	sgTick    clock.Ticker // SGRefreshPeriod: the security group refresh
}

// New restores state (IMDS, then EC2 as the truth, then the checkpoint),
// fills the pool once when it is too low (upstream's handlePreScaling),
// then starts the gRPC server, introspection, metrics and the pool manager,
// and returns once the socket accepts connections. A start-up error is
// where upstream's aws-node exits ("Initialization failure"). ctx bounds
// start-up only.
func New(ctx context.Context, cfg config.Config, opts Options) (*Daemon, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	started := opts.Clock.Now()
	if opts.SocketPath == "" {
		opts.SocketPath = DefaultSocketPath
	}
	if opts.CheckpointPath == "" {
		opts.CheckpointPath = DefaultCheckpointPath
	}
	if opts.IntrospectionAddr == "" {
		opts.IntrospectionAddr = DefaultIntrospectionAddr
	}
	if opts.MetricsAddr == "" {
		opts.MetricsAddr = DefaultMetricsAddr
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.SlogLevel()}))
	}
	d := &Daemon{
		cfg: cfg, opts: opts, clock: opts.Clock, log: log, metrics: newMetrics(), exited: make(chan error, 1),
	}
	d.logConfigWarnings()
	d.pm = newPoolManager(d)
	d.sleep = sleepClock{Clock: d.clock, sleepers: &d.sleepers}
	if opts.starting != nil {
		opts.starting(d)
	}
	ep := awsapi.Endpoints{EC2: opts.EC2Endpoint, IMDS: opts.IMDSEndpoint}
	var clients *awsapi.Clients
	if opts.AWSConfig != nil {
		clients = awsapi.ClientsFrom(*opts.AWSConfig, ep)
	} else {
		var err error
		if clients, err = awsapi.NewClients(ctx, ep); err != nil {
			return nil, err // awsapi says what failed
		}
	}
	clients.IMDS.Observe(d.metrics)
	d.imds = clients.IMDS
	if err := d.waitForIMDS(ctx); err != nil {
		return nil, err
	}
	d.ec2 = awsapi.NewEC2(clients.NewEC2(d.identity.Region), d.sleep, log, d.metrics, awsapi.Retry{})
	initStart := d.clock.Now()
	if err := d.init(ctx); err != nil {
		return nil, err
	}
	// As upstream's nodeInit (handlePreScaling) then _main: the pool is
	// filled before the socket is served.
	if d.v6 == nil {
		if err := d.pm.preScale(ctx); err != nil {
			return nil, err
		}
	}
	d.pm.updateGauges()
	nodeInit := d.clock.Now().Sub(initStart)
	if err := d.serve(); err != nil {
		d.shutdownServers()
		return nil, err
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.poolTick = d.clock.NewTicker(cfg.PoolCheckPeriod)
	d.leakTimer = d.clock.NewTimer(d.nextLeakScan(0))
	d.cidrTick = d.clock.NewTicker(cfg.VPCCIDRPeriod)
	d.sgTick = d.clock.NewTicker(cfg.SGRefreshPeriod)
	d.wg.Add(1)
	go d.pm.run()
	d.metrics.startedUp(d.clock.Now().Sub(started), nodeInit)
	return d, nil
}

// logConfigWarnings logs, with upstream's line and level, each setting the
// VPC CNI ignored or replaced (upstream logs some silently: those stay
// silent here too).
func (d *Daemon) logConfigWarnings() {
	for _, w := range d.cfg.Warnings {
		if w.Log != "" {
			d.log.Log(context.Background(), w.Level, w.Log)
		}
	}
}

// Close stops every goroutine and removes the socket; it is idempotent.
// The checkpoint stays: it is what the next ipamd restores from.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		if d.cancel != nil {
			d.cancel()
		}
		d.shutdownServers()
		if d.poolTick != nil {
			d.poolTick.Stop()
			d.leakTimer.Stop()
			d.cidrTick.Stop()
			d.sgTick.Stop()
		}
	})
	return nil
}

// Status returns the pool as it stands.
func (d *Daemon) Status() Status {
	if d.v6 != nil {
		return d.statusV6()
	}
	st := d.store.Stats(d.clock.Now())
	return Status{
		InstanceID: d.identity.InstanceID, InstanceType: d.identity.InstanceType,
		MaxPods: d.maxPods, MaxENIs: d.maxENIs, ENIs: st.ENIs,
		TotalIPs: st.TotalIPs, AssignedIPs: st.AssignedIPs, WarmIPs: st.TotalIPs - st.AssignedIPs, Prefixes: st.Prefixes,
	}
}

// Exited receives one value once ipamd stops serving: the error when it
// stopped on its own, as upstream's aws-node exits when its gRPC handler
// returns ("Failed to set up gRPC handler"), or nil after Close.
func (d *Daemon) Exited() <-chan error { return d.exited }

// Assignments returns the addresses assigned to pods, with the ENI and
// device each is on, ordered by address.
func (d *Daemon) Assignments() []datastore.Assignment {
	if d.v6 != nil {
		return d.v6.Assignments()
	}
	return d.store.Assignments()
}

// IntrospectionAddr is the bound introspection address ("" when off).
func (d *Daemon) IntrospectionAddr() string { return d.introAddr }

// MetricsAddr is the bound metrics address ("" when off).
func (d *Daemon) MetricsAddr() string { return d.metricAddr }

// SocketPath is the gRPC socket the CNI plugin talks to.
func (d *Daemon) SocketPath() string { return d.socketPath }

// updateStoreGauges refreshes the gauges derived from the datastore alone;
// safe from any goroutine.
func (d *Daemon) updateStoreGauges() {
	st := d.store.Stats(d.clock.Now())
	d.metrics.eniAllocated.Set(float64(st.ENIs))
	d.metrics.totalIPs.Set(float64(st.TotalIPs))
	d.metrics.assignedIPs.Set(float64(st.AssignedIPs))
	d.metrics.totalPrefixes.Set(float64(st.Prefixes))
	d.metrics.setAssignedPerCIDR(d.store.ENIs(d.clock.Now()))
}
