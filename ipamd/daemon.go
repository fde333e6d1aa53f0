package ipamd

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
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/internal/ec2limits"
	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/datastore"
	"github.com/enilab/enilab/ipamd/netsetup"
	"github.com/enilab/enilab/ipamd/pool"
	"github.com/enilab/enilab/ipamd/rpc"
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
	ENIConfigs        []config.ENIConfig
	MaxPods           int // node's explicit maxPods; 0 = computed (DESIGN §3)
	Logger            *slog.Logger

	// VethExists, when set, replaces the look-up of a pod's host veth in
	// NetNSPath during restore (tests without namespaces use it).
	VethExists func(name string) (bool, error)
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
	MaxPods      int
	MaxENIs      int
	ENIs         int
	TotalIPs     int
	AssignedIPs  int
	WarmIPs      int
	Prefixes     int
}

// ec2API is the EC2 surface the daemon uses (awsapi.EC2 implements it).
type ec2API interface {
	DescribeInstanceType(ctx context.Context, name string) (awsapi.InstanceLimits, error)
	AttachedENIs(ctx context.Context, instanceID string) ([]awsapi.ENI, error)
	DescribeENI(ctx context.Context, id string) (awsapi.ENI, error)
	LeakedENIs(ctx context.Context, vpcID, cluster string) ([]awsapi.ENI, error)
	Subnets(ctx context.Context, vpcID string) ([]awsapi.Subnet, error)
	CreateENI(ctx context.Context, s awsapi.CreateSpec) (awsapi.ENI, error)
	AttachENI(ctx context.Context, eniID, instanceID string, device int) (string, error)
	SetDeleteOnTermination(ctx context.Context, eniID, attachmentID string) error
	DetachENI(ctx context.Context, attachmentID string) error
	DeleteENI(ctx context.Context, eniID string) error
	AssignIPs(ctx context.Context, eniID string, n int) ([]netip.Addr, error)
	AssignPrefixes(ctx context.Context, eniID string, n int) ([]netip.Prefix, error)
	Unassign(ctx context.Context, eniID string, ips []netip.Addr, prefixes []netip.Prefix) error
	CreateTags(ctx context.Context, id string, tags map[string]string) error
}

// imdsAPI is the IMDS surface the daemon uses (awsapi.IMDS implements it).
type imdsAPI interface {
	Identity(ctx context.Context) (awsapi.Identity, error)
	PrimaryMAC(ctx context.Context) (string, error)
	ENI(ctx context.Context, mac string) (awsapi.ENIMeta, error)
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

	// Pool-manager state: touched only by the loop goroutine (and New
	// before it starts).
	unmanaged      map[string]bool
	subnetCIDRs    map[string]netip.Prefix
	lastDecrease   time.Time
	lastPoolAction time.Time
	lastSubnetErr  time.Time
	recentlyFreed  map[string]time.Time // CIDR or ENI id → when ipamd gave it back

	grpcServer *grpc.Server
	socketPath string
	introSrv   *http.Server
	introAddr  string
	metricSrv  *http.Server
	metricAddr string

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	// Quiescence, for tests driving a fake clock.
	waiting   atomic.Bool
	sleepers  atomic.Int32
	sleep     clock.Clock // d.clock, counting sleeps
	poolTick  clock.Ticker
	leakTimer clock.Timer
}

// New restores state (IMDS, then EC2 as the truth, then the checkpoint),
// starts the gRPC server, introspection, metrics and the pool manager, and
// returns once the socket accepts connections. ctx bounds start-up only.
func New(ctx context.Context, cfg config.Config, opts Options) (*Daemon, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ipamd configuration: %w", err)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
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
		cfg: cfg, opts: opts, clock: opts.Clock, log: log, metrics: newMetrics(),
		unmanaged: map[string]bool{}, subnetCIDRs: map[string]netip.Prefix{}, recentlyFreed: map[string]time.Time{},
	}
	d.sleep = sleepClock{Clock: d.clock, sleepers: &d.sleepers}
	clients, err := awsapi.NewClients(ctx, awsapi.Endpoints{EC2: opts.EC2Endpoint, IMDS: opts.IMDSEndpoint})
	if err != nil {
		return nil, fmt.Errorf("ipamd: %w", err)
	}
	d.imds = clients.IMDS
	if err := d.waitForIMDS(ctx); err != nil {
		return nil, err
	}
	d.ec2 = awsapi.NewEC2(clients.NewEC2(d.identity.Region), d.sleep, log, d.metrics, awsapi.Retry{})
	if err := d.init(ctx); err != nil {
		return nil, err
	}
	if err := d.serve(); err != nil {
		d.shutdownServers()
		return nil, err
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.poolTick = d.clock.NewTicker(cfg.PoolCheckPeriod)
	leakDelay := min(cfg.LeakedENIMinAge, cfg.LeakScanPeriod)
	d.leakTimer = d.clock.NewTimer(leakDelay)
	d.wg.Add(1)
	go d.loop()
	return d, nil
}

// waitForIMDS reads the identity document, retrying with backoff: right
// after boot (or a lab's node start) IMDS may not answer yet.
func (d *Daemon) waitForIMDS(ctx context.Context) error {
	wait := 200 * time.Millisecond
	var err error
	for attempt := 1; attempt <= 8; attempt++ {
		d.identity, err = d.imds.Identity(ctx)
		if err == nil {
			return nil
		}
		d.log.Warn("waiting for IMDS", "attempt", attempt, "err", err)
		if serr := clock.Sleep(ctx, d.sleep, wait); serr != nil {
			break
		}
		wait = min(wait*2, 5*time.Second)
	}
	return fmt.Errorf("ipamd: instance metadata service unreachable: %w", err)
}

// init learns the instance and restores the datastore.
func (d *Daemon) init(ctx context.Context) error {
	id := d.identity
	lim, err := d.ec2.DescribeInstanceType(ctx, id.InstanceType)
	if err != nil {
		t, ok := ec2limits.Lookup(id.InstanceType)
		if !ok {
			return fmt.Errorf("ipamd: limits of instance type %q: %w", id.InstanceType, err)
		}
		d.log.Warn("DescribeInstanceTypes failed; using the built-in limits table", "type", id.InstanceType, "err", err)
		lim = awsapi.InstanceLimits{MaxENIs: t.MaxENIs, IPv4PerENI: t.IPv4PerENI, Hypervisor: string(t.Hypervisor), BareMetal: t.BareMetal, DefaultNetworkCard: t.DefaultNetworkCard}
	}
	d.limits = lim
	if d.cfg.EnablePrefixDelegation && !lim.SupportsPrefixes() {
		return fmt.Errorf("ipamd: %s=true but instance type %s (hypervisor %s) does not support prefix delegation: only Nitro and bare-metal instances can hold /28 prefixes; unset %s or use a Nitro type",
			config.EnvEnablePrefixDelegation, id.InstanceType, lim.Hypervisor, config.EnvEnablePrefixDelegation)
	}
	d.maxENIs = lim.MaxENIs
	if d.cfg.MaxENI >= 1 && d.cfg.MaxENI < d.maxENIs {
		d.maxENIs = d.cfg.MaxENI
	}
	d.maxPods = d.opts.MaxPods
	if d.maxPods <= 0 {
		d.maxPods = pool.MaxPods(lim.MaxENIs, lim.IPv4PerENI, d.cfg.CustomNetworking, d.cfg.EnablePrefixDelegation)
	}
	d.params = pool.Params{
		WarmENITarget: d.cfg.WarmENITarget, WarmIPTarget: d.cfg.WarmIPTarget, MinimumIPTarget: d.cfg.MinimumIPTarget,
		WarmPrefixTarget: d.cfg.WarmPrefixTarget, PrefixMode: d.cfg.EnablePrefixDelegation,
		SlotsPerENI: lim.IPv4PerENI - 1, MaxPods: d.maxPods,
	}

	mac, err := d.imds.PrimaryMAC(ctx)
	if err != nil {
		return fmt.Errorf("ipamd: primary MAC: %w", err)
	}
	if d.primary, err = d.imds.ENI(ctx, mac); err != nil {
		return fmt.Errorf("ipamd: primary ENI %s: %w", mac, err)
	}
	d.vpcCIDRs = d.primary.VPCCIDRs
	d.subnetCIDRs[d.primary.SubnetID] = d.primary.SubnetCIDR
	if d.cfg.CustomNetworking {
		if err := d.selectENIConfig(); err != nil {
			return err
		}
	}

	cp := datastore.File{Path: d.opts.CheckpointPath}
	d.store = datastore.New(datastore.Options{Cooldown: d.cfg.IPCooldown, Checkpoint: cp})
	if err := d.restore(ctx, cp); err != nil {
		return err
	}
	if d.opts.NetNSPath != NoNetNS {
		primaryIP := d.identity.PrivateIP
		if len(d.primary.IPs) > 0 {
			primaryIP = d.primary.IPs[0]
		}
		if err := netsetup.SetupHost(d.opts.NetNSPath, d.vpcCIDRs, primaryIP, d.cfg.ExternalSNAT); err != nil {
			return fmt.Errorf("ipamd: host network setup: %w", err)
		}
	}
	d.log.Info("IP pool manager", "instance", id.InstanceID, "type", id.InstanceType, "maxPods", d.maxPods,
		"maxENIs", d.maxENIs, "ipv4PerENI", lim.IPv4PerENI, "warmIPTarget", d.cfg.WarmIPTarget,
		"warmPrefixTarget", d.cfg.WarmPrefixTarget, "warmENITarget", d.cfg.WarmENITarget, "minimumIPTarget", d.cfg.MinimumIPTarget,
		"prefixDelegation", d.cfg.EnablePrefixDelegation, "customNetworking", d.cfg.CustomNetworking)
	d.updateGauges()
	return nil
}

// selectENIConfig picks the node's config.ENIConfig as upstream does: the value of
// the node's label named by ENI_CONFIG_LABEL_DEF, else "default".
func (d *Daemon) selectENIConfig() error {
	name, ok := d.opts.NodeLabels[d.cfg.ENIConfigLabelDef]
	if !ok || name == "" {
		name = config.DefaultENIConfigName
	}
	d.eniCfgName = name
	for i := range d.opts.ENIConfigs {
		if d.opts.ENIConfigs[i].Name == name {
			c := d.opts.ENIConfigs[i]
			d.eniConfig = &c
			return nil
		}
	}
	var names []string
	for _, c := range d.opts.ENIConfigs {
		names = append(names, c.Name)
	}
	return fmt.Errorf("ipamd: %s=true but no config.ENIConfig named %q (the value of node label %s, or %q when the node lacks it); ENIConfigs known: %v (set %s=topology.kubernetes.io/zone to select ENIConfigs by zone)",
		config.EnvCustomNetwork, name, d.cfg.ENIConfigLabelDef, config.DefaultENIConfigName, names, config.EnvENIConfigLabelDef)
}

// serve starts the gRPC socket, introspection and metrics.
func (d *Daemon) serve() error {
	d.socketPath = d.opts.SocketPath
	if err := os.MkdirAll(filepath.Dir(d.socketPath), 0o755); err != nil {
		return fmt.Errorf("ipamd: socket directory: %w", err)
	}
	if err := os.Remove(d.socketPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ipamd: remove stale socket %s: %w", d.socketPath, err)
	}
	lis, err := net.Listen("unix", d.socketPath)
	if err != nil {
		return fmt.Errorf("ipamd: listen on %s: %w", d.socketPath, err)
	}
	if err := os.Chmod(d.socketPath, 0o660); err != nil {
		lis.Close()
		return fmt.Errorf("ipamd: chmod %s: %w", d.socketPath, err)
	}
	d.grpcServer = grpc.NewServer()
	rpc.RegisterCNIBackendServer(d.grpcServer, &backend{d: d})
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("rpc.CNIBackend", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(d.grpcServer, hs)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.grpcServer.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			d.log.Error("gRPC server stopped", "err", err)
		}
	}()
	if d.opts.IntrospectionAddr != Off {
		srv, addr, err := d.listenHTTP(d.opts.IntrospectionAddr, d.introspectionHandler())
		if err != nil {
			return fmt.Errorf("ipamd: introspection on %s (set it to %q to disable): %w", d.opts.IntrospectionAddr, Off, err)
		}
		d.introSrv, d.introAddr = srv, addr
	}
	if d.opts.MetricsAddr != Off {
		srv, addr, err := d.listenHTTP(d.opts.MetricsAddr, d.metricsHandler())
		if err != nil {
			return fmt.Errorf("ipamd: metrics on %s (set it to %q to disable): %w", d.opts.MetricsAddr, Off, err)
		}
		d.metricSrv, d.metricAddr = srv, addr
	}
	return nil
}

func (d *Daemon) listenHTTP(addr string, h http.Handler) (*http.Server, string, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("HTTP server stopped", "addr", addr, "err", err)
		}
	}()
	return srv, lis.Addr().String(), nil
}

func (d *Daemon) shutdownServers() {
	if d.grpcServer != nil {
		d.grpcServer.Stop()
	}
	if d.introSrv != nil {
		d.introSrv.Close()
	}
	if d.metricSrv != nil {
		d.metricSrv.Close()
	}
	d.wg.Wait()
	if d.socketPath != "" {
		os.Remove(d.socketPath)
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
		}
	})
	return nil
}

// Status returns the pool as it stands.
func (d *Daemon) Status() Status {
	st := d.store.Stats(d.clock.Now())
	return Status{
		InstanceID: d.identity.InstanceID, InstanceType: d.identity.InstanceType,
		MaxPods: d.maxPods, MaxENIs: d.maxENIs, ENIs: st.ENIs,
		TotalIPs: st.TotalIPs, AssignedIPs: st.AssignedIPs, WarmIPs: st.TotalIPs - st.AssignedIPs, Prefixes: st.Prefixes,
	}
}

// IntrospectionAddr is the bound introspection address ("" when off).
func (d *Daemon) IntrospectionAddr() string { return d.introAddr }

// MetricsAddr is the bound metrics address ("" when off).
func (d *Daemon) MetricsAddr() string { return d.metricAddr }

// SocketPath is the gRPC socket the CNI plugin talks to.
func (d *Daemon) SocketPath() string { return d.socketPath }

// loop is the pool manager: pool checks, reconciles and leak scans, one at
// a time. As upstream's StartNodeIPPoolManager, every pool check is followed
// by a reconcile, which runs only once the pool has been left alone for
// ReconcilePeriod: a separate reconcile ticker of that same period would
// find its own previous run exactly one period old and skip every other
// turn.
func (d *Daemon) loop() {
	defer d.wg.Done()
	d.updatePool(d.ctx) // upstream grows the pool during node init
	for {
		d.waiting.Store(true)
		select {
		case <-d.ctx.Done():
			d.waiting.Store(false)
			return
		case <-d.poolTick.C():
			d.waiting.Store(false)
			d.updatePool(d.ctx)
			d.reconcile(d.ctx)
		case <-d.leakTimer.C():
			d.waiting.Store(false)
			if !d.cfg.DisableLeakedENICleanup {
				d.cleanLeakedENIs(d.ctx)
			}
			d.leakTimer.Reset(d.cfg.LeakScanPeriod)
		}
	}
}

// updateGauges refreshes every gauge; only the loop goroutine (which owns
// d.unmanaged) calls it.
func (d *Daemon) updateGauges() {
	d.updateStoreGauges()
	d.metrics.eniMax.Set(float64(d.maxENIs - len(d.unmanaged)))
	d.metrics.ipMax.Set(float64(d.params.MaxIPsPerENI() * (d.maxENIs - len(d.unmanaged))))
}

// updateStoreGauges refreshes the gauges derived from the datastore alone;
// safe from any goroutine.
func (d *Daemon) updateStoreGauges() {
	st := d.store.Stats(d.clock.Now())
	d.metrics.eniAllocated.Set(float64(st.ENIs))
	d.metrics.totalIPs.Set(float64(st.TotalIPs))
	d.metrics.assignedIPs.Set(float64(st.AssignedIPs))
	d.metrics.totalPrefixes.Set(float64(st.Prefixes))
}
