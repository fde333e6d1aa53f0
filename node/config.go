package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/internal/ec2limits"
	"github.com/enilab/enilab/ipamd/config"
)

// Backends of ENI links.
const (
	BackendVeth  = "veth"
	BackendDummy = "dummy"
)

// BackendEnv overrides the automatic backend choice (LabConfig.Backend "")
// with "veth" or "dummy", so a whole suite can be run on either backend
// without changing code.
const BackendEnv = "ENILAB_ENI_BACKEND"

// Addresses inside every node namespace.
const (
	// IMDSAddr is where IMDS answers inside a node namespace, as on EC2.
	IMDSAddr = "169.254.169.254:80"
	// EC2Addr is where the EC2 Query API answers inside a node namespace;
	// EC2 has no such in-VPC address, so the lab picks one from the
	// link-local block next to IMDS.
	EC2Addr = "169.254.169.250:80"
	// EC2Endpoint is EC2Addr as an --endpoint-url.
	EC2Endpoint = "http://169.254.169.250"
	// FabricNextHop is the onlink next hop the VPC namespace routes ENI
	// addresses through; its neighbour entry on each peer is the ENI's MAC.
	FabricNextHop = "169.254.100.1"
)

// VPCSpec describes the lab's VPC.
type VPCSpec struct {
	CIDR           string
	SecondaryCIDRs []string
	// IPv6: an Amazon-provided /56, a /64 per subnet, and the fabric
	// routing IPv6 (each node's /80 to its ENI).
	IPv6 bool
}

// SubnetSpec describes one subnet; ID is a readable name such as "subnet-a".
type SubnetSpec struct {
	ID   string
	CIDR string
	AZ   string
	Tags map[string]string
	// Public: MapPublicIpOnLaunch, and a route table sending 0.0.0.0/0 to
	// the VPC's internet gateway.
	Public bool
	// NATGateway: a NAT gateway for this subnet, placed in a public subnet
	// (of the same zone when there is one), and a route table sending
	// 0.0.0.0/0 to it.
	NATGateway bool
}

// ReservationSpec is a subnet CIDR reservation ("prefix" or "explicit").
type ReservationSpec struct {
	Subnet string
	CIDR   string
	Type   string
}

// LabConfig configures a lab. The zero value plus one subnet is a working
// lab: defaults are filled in by NewLab.
type LabConfig struct {
	// Prefix names every namespace, link and temporary directory of the lab;
	// default "enl" + 5 random hex digits.
	Prefix string
	Seed   int64
	// TimeScale: lab duration d takes d×TimeScale real time; default 1.
	TimeScale float64
	// Clock, when set, is the lab clock (TimeScale is then ignored); share
	// it with an Interceptor built before the lab (fakeec2/chaos takes a
	// Clock). nil = clock.NewScaled(TimeScale, 2026-01-01).
	Clock clock.Clock
	// VPC defaults to 10.0.0.0/16.
	VPC          VPCSpec
	Subnets      []SubnetSpec
	Reservations []ReservationSpec
	// Interceptor is the chaos layer; nil = a *chaos.Controller that only
	// counts (no throttling, latency or faults). Lab.EC2Counters reads the
	// counters of a *chaos.Controller.
	Interceptor fakeec2.Interceptor
	IMDSLag     time.Duration
	DescribeLag time.Duration
	// IPAMDEnv is the ipamd environment of every node (upstream names).
	IPAMDEnv map[string]string
	// ENIConfigs are the custom-networking ENIConfigs; NewLab creates every
	// security group they name (ids such as "sg-1") in the VPC, as a user
	// creates them before writing the ENIConfig.
	ENIConfigs []config.ENIConfig
	// Backend is "veth", "dummy" or "" (automatic: $ENILAB_ENI_BACKEND if
	// set, else veth).
	Backend string
	// HotplugDelay is the lab time between EC2 attaching an ENI and its link
	// appearing on the node; 0 = at once.
	HotplugDelay time.Duration
	// PluginIPAMDSocket, when set, is given each node's name and ipamd
	// socket when the node starts and returns the socket the node's CNI
	// config sends the plugin to (a test puts a proxy there); nil = ipamd's
	// own socket.
	PluginIPAMDSocket func(node, ipamdSocket string) string
	// PluginPath is the aws-cni binary; "" is the lab's own: the aws-cni
	// beside the running executable when `make build` built both
	// (internal/buildstamp), else os.Executable() re-executed under the
	// name aws-cni (its main or TestMain must call multicall.RunIfPlugin()
	// first thing). In IPv6 mode the chained egress-cni is the lab's own in
	// the same way whatever PluginPath is, so a lab binary that runs IPv6
	// nodes calls multicall.RunIfPlugin() even when PluginPath is set.
	PluginPath string
	// PodBackoff and PodBackoffMax bound the kubelet-like retry of a failed
	// ADD (lab time, doubling); defaults 1s and 20s.
	PodBackoff    time.Duration
	PodBackoffMax time.Duration
	// PodParallelism caps concurrent CNI calls per node; default 8.
	PodParallelism int
	Logger         *slog.Logger
	// Datapath is every node's datapath unless its Spec says otherwise:
	// DatapathKernel (the default, "") or DatapathNone (fleet nodes).
	Datapath string

	// noIPAMD builds nodes without ipamd: the fabric tests of this package
	// drive fakeec2 by hand.
	noIPAMD bool
}

// Spec describes one node (an EC2 instance).
type Spec struct {
	Name         string
	InstanceType string
	Subnet       string
	// MaxPods is the kubelet's maxPods; 0 = computed by ipamd (DESIGN §3).
	MaxPods int
	// Labels are added to topology.kubernetes.io/zone = the subnet's AZ.
	Labels map[string]string
	// IPAMDEnv is merged over LabConfig.IPAMDEnv for this node.
	IPAMDEnv map[string]string
	// PluginPath is this node's aws-cni binary; "" = the lab's
	// (LabConfig.PluginPath).
	PluginPath string
	// EgressPluginPath is this node's egress-cni binary in IPv6 mode, with
	// a host-local binary next to it (upstream's egress plugin executes
	// host-local); "" = the lab binary's own (cniplugin/egress).
	EgressPluginPath string
	// Datapath is DatapathKernel, DatapathNone (a fleet node: fleet.go)
	// or "" (LabConfig.Datapath).
	Datapath string
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// maxPrefixLen keeps namespace and temp-path names short enough for unix
// socket paths.
const maxPrefixLen = 24

// Validate reports every problem of the config at once.
func (c LabConfig) Validate() error {
	var errs []error
	if c.Prefix != "" && (!nameRE.MatchString(c.Prefix) || len(c.Prefix) > maxPrefixLen) {
		errs = append(errs, fmt.Errorf("prefix %q: want lower-case letters, digits and '-', at most %d characters", c.Prefix, maxPrefixLen))
	}
	if c.TimeScale < 0 {
		errs = append(errs, fmt.Errorf("timeScale %v: must not be negative", c.TimeScale))
	}
	if c.VPC.CIDR != "" {
		if _, err := netip.ParsePrefix(c.VPC.CIDR); err != nil {
			errs = append(errs, fmt.Errorf("vpc cidr %q: %w", c.VPC.CIDR, err))
		}
	}
	for _, s := range c.VPC.SecondaryCIDRs {
		if _, err := netip.ParsePrefix(s); err != nil {
			errs = append(errs, fmt.Errorf("vpc secondary cidr %q: %w", s, err))
		}
	}
	if len(c.Subnets) == 0 {
		errs = append(errs, errors.New("subnets: at least one subnet is needed"))
	}
	ids, subnetErrs := c.validateSubnets()
	errs = append(errs, subnetErrs...)
	if c.wantsNATGateway() && !c.wantsInternet(true) {
		errs = append(errs, errors.New("subnets: natGateway needs a public subnet for the NAT gateway to sit in, as on AWS"))
	}
	errs = append(errs, c.validateReservations(ids)...)
	errs = append(errs, c.validateENIConfigs(ids)...)
	switch c.Backend {
	case "", BackendVeth, BackendDummy:
	default:
		errs = append(errs, fmt.Errorf("backend %q: want veth, dummy or empty (automatic)", c.Backend))
	}
	if c.HotplugDelay < 0 {
		errs = append(errs, fmt.Errorf("hotplugDelay %v: must not be negative", c.HotplugDelay))
	}
	if c.PodBackoff < 0 || c.PodBackoffMax < 0 {
		errs = append(errs, errors.New("podBackoff: must not be negative"))
	}
	if !validDatapath(c.Datapath) {
		errs = append(errs, fmt.Errorf("datapath %q: want kernel, none or empty", c.Datapath))
	}
	if c.PodParallelism < 0 {
		errs = append(errs, fmt.Errorf("podParallelism %d: must not be negative", c.PodParallelism))
	}
	if c.PluginPath != "" {
		if err := checkExecutable(c.PluginPath); err != nil {
			errs = append(errs, fmt.Errorf("pluginPath: %w", err))
		}
	}
	return errors.Join(errs...)
}

// validateSubnets returns the subnet ids and what is wrong with the subnets.
func (c LabConfig) validateSubnets() (map[string]bool, []error) {
	var errs []error
	ids := map[string]bool{}
	for i, s := range c.Subnets {
		if s.ID == "" {
			errs = append(errs, fmt.Errorf("subnets[%d]: id is required", i))
		} else if ids[s.ID] {
			errs = append(errs, fmt.Errorf("subnets[%d]: duplicate id %q", i, s.ID))
		}
		ids[s.ID] = true
		if s.Public && s.NATGateway {
			errs = append(errs, fmt.Errorf("subnets[%d] %s: public and natGateway: a subnet has one default route, the internet gateway or a NAT gateway", i, s.ID))
		}
		if p, err := netip.ParsePrefix(s.CIDR); err != nil {
			errs = append(errs, fmt.Errorf("subnets[%d] %s: cidr %q: %w", i, s.ID, s.CIDR, err))
		} else if !p.Addr().Is4() || p.Bits() > 28 {
			errs = append(errs, fmt.Errorf("subnets[%d] %s: cidr %q: want an IPv4 block of /28 or larger", i, s.ID, s.CIDR))
		}
	}
	return ids, errs
}

// validateReservations checks reservations against the subnet ids.
func (c LabConfig) validateReservations(ids map[string]bool) []error {
	var errs []error
	for i, r := range c.Reservations {
		if !ids[r.Subnet] {
			errs = append(errs, fmt.Errorf("reservations[%d]: unknown subnet %q", i, r.Subnet))
		}
		if r.Type != "prefix" && r.Type != "explicit" {
			errs = append(errs, fmt.Errorf("reservations[%d]: type %q: want prefix or explicit", i, r.Type))
		}
		if _, err := netip.ParsePrefix(r.CIDR); err != nil {
			errs = append(errs, fmt.Errorf("reservations[%d]: cidr %q: %w", i, r.CIDR, err))
		}
	}
	return errs
}

// validateENIConfigs checks ENIConfigs against the subnet ids.
func (c LabConfig) validateENIConfigs(ids map[string]bool) []error {
	var errs []error
	for i, e := range c.ENIConfigs {
		if e.Name == "" {
			errs = append(errs, fmt.Errorf("eniConfigs[%d]: name is required", i))
		}
		if !ids[e.Subnet] {
			errs = append(errs, fmt.Errorf("eniConfigs[%d] %s: unknown subnet %q", i, e.Name, e.Subnet))
		}
		for _, sg := range e.SecurityGroups {
			if !strings.HasPrefix(sg, "sg-") || len(sg) == len("sg-") || !nameRE.MatchString(sg) {
				errs = append(errs, fmt.Errorf("eniConfigs[%d] %s: security group %q: want a group id such as sg-1", i, e.Name, sg))
			}
		}
	}
	return errs
}

// wantsInternet reports whether some subnet is public (publicOnly) or
// public or NAT-gatewayed: whether the lab builds the internet.
func (c LabConfig) wantsInternet(publicOnly bool) bool {
	for _, s := range c.Subnets {
		if s.Public || (!publicOnly && s.NATGateway) {
			return true
		}
	}
	return false
}

func (c LabConfig) wantsNATGateway() bool {
	for _, s := range c.Subnets {
		if s.NATGateway {
			return true
		}
	}
	return false
}

// withDefaults fills in the zero values.
func (c LabConfig) withDefaults() LabConfig {
	if c.Prefix == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		c.Prefix = "enl" + hex.EncodeToString(b[:])[:5]
	}
	if c.TimeScale == 0 {
		c.TimeScale = 1
	}
	if c.VPC.CIDR == "" {
		c.VPC.CIDR = "10.0.0.0/16"
	}
	if c.PodBackoff == 0 {
		c.PodBackoff = time.Second
	}
	if c.PodBackoffMax == 0 {
		c.PodBackoffMax = 20 * time.Second
	}
	if c.PodBackoffMax < c.PodBackoff {
		c.PodBackoffMax = c.PodBackoff
	}
	if c.PodParallelism == 0 {
		c.PodParallelism = 8
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem of the node spec at once; subnets are
// checked against the lab by AddNode.
func (s Spec) Validate() error {
	var errs []error
	if !nameRE.MatchString(s.Name) || len(s.Name) > 32 {
		errs = append(errs, fmt.Errorf("node name %q: want lower-case letters, digits and '-', at most 32 characters", s.Name))
	}
	if s.InstanceType == "" {
		errs = append(errs, errors.New("instanceType is required"))
	} else if _, ok := ec2limits.Lookup(s.InstanceType); !ok {
		errs = append(errs, fmt.Errorf("instanceType %q: unknown instance type", s.InstanceType))
	}
	if s.MaxPods < 0 {
		errs = append(errs, fmt.Errorf("maxPods %d: must not be negative", s.MaxPods))
	}
	if s.PluginPath != "" {
		if err := checkExecutable(s.PluginPath); err != nil {
			errs = append(errs, fmt.Errorf("pluginPath: %w", err))
		}
	}
	if s.EgressPluginPath != "" {
		if err := checkEgressPlugin(s.EgressPluginPath); err != nil {
			errs = append(errs, fmt.Errorf("egressPluginPath: %w", err))
		}
	}
	if !validDatapath(s.Datapath) {
		errs = append(errs, fmt.Errorf("datapath %q: want kernel, none or empty", s.Datapath))
	}
	return errors.Join(errs...)
}
