package fakeec2

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/enilab/enilab/internal/clock"
)

// Config configures a Server. The zero value is usable: every field has a
// default (see the field comments).
type Config struct {
	Region      string      // default "us-west-2"
	AccountID   string      // default "123456789012"
	Seed        int64       // deterministic address/ID/MAC choice
	Clock       clock.Clock // default clock.Real{}
	Interceptor Interceptor // nil = none (chaos layer plugs in here)
	// IMDSLag delays when an attach or assign shows in IMDS.
	IMDSLag time.Duration
	// DescribeLag delays the same for DescribeNetworkInterfaces and
	// DescribeInstances.
	DescribeLag  time.Duration
	MaxBodyBytes int64 // default 1 MiB
}

// Validate reports every problem with the config at once.
func (c Config) Validate() error {
	var errs []error
	if c.IMDSLag < 0 {
		errs = append(errs, fmt.Errorf("IMDSLag %v is negative", c.IMDSLag))
	}
	if c.DescribeLag < 0 {
		errs = append(errs, fmt.Errorf("DescribeLag %v is negative", c.DescribeLag))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes %d is negative", c.MaxBodyBytes))
	}
	if c.AccountID != "" && (len(c.AccountID) != 12 || strings.Trim(c.AccountID, "0123456789") != "") {
		errs = append(errs, fmt.Errorf("AccountID %q is not 12 digits", c.AccountID))
	}
	if strings.ContainsAny(c.Region, " /\t\n") {
		errs = append(errs, fmt.Errorf("Region %q is not a region name", c.Region))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = "us-west-2"
	}
	if c.AccountID == "" {
		c.AccountID = "123456789012"
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	return c
}

// Server is an in-process EC2 (Query API) and per-instance IMDSv2 that
// enforces EC2's ENI and address rules. It is safe for concurrent use.
type Server struct {
	cfg Config

	mu       sync.Mutex // guards st, watchers, closed
	st       *state
	watchers map[*watcher]struct{}
	closed   bool
	wg       sync.WaitGroup

	ridMu sync.Mutex
	rid   *rand.Rand

	imdsMu sync.Mutex
	tokens map[string]time.Time // IMDS token → lab expiry
	tokRng *rand.Rand
}

// New returns a Server with an empty account: create VPCs, subnets and
// instances through the Go API or the wire.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fakeec2: invalid config: %w", err)
	}
	cfg = cfg.withDefaults()
	return &Server{
		cfg:      cfg,
		st:       newState(cfg.Region, cfg.AccountID, cfg.Seed),
		watchers: map[*watcher]struct{}{},
		rid:      rand.New(rand.NewPCG(uint64(cfg.Seed), 0x726571)),
		tokens:   map[string]time.Time{},
		tokRng:   rand.New(rand.NewPCG(uint64(cfg.Seed), 0x746f6b)),
	}, nil
}

// Close stops every watcher and waits for their goroutines; it is
// idempotent. The server keeps answering requests after Close.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	ws := make([]*watcher, 0, len(s.watchers))
	for w := range s.watchers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	s.wg.Wait()
	return nil
}

// ---- Go API: lab setup with the wire's rules and errors ----

// asErr converts a nil *Error to a nil error interface.
func asErr(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

// CreateVPC creates a VPC and its default security group.
func (s *Server) CreateVPC(spec VPCSpec) (VPC, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, e := s.st.createVPC(spec.ID, spec.CIDR, spec.SecondaryCIDRs)
	if e != nil {
		return VPC{}, e
	}
	return v.view(), nil
}

// CreateSubnet creates a subnet inside one of its VPC's CIDR blocks.
func (s *Server) CreateSubnet(spec SubnetSpec) (Subnet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, e := s.st.createSubnet(spec.ID, spec.VPCID, spec.CIDR, spec.AZ, spec.Tags)
	if e != nil {
		return Subnet{}, e
	}
	return sn.view(), nil
}

// CreateSubnetCIDRReservation reserves cidr in a subnet; reservationType is
// "prefix" (prefixes come from here first) or "explicit" (EC2 never picks
// from it on its own).
func (s *Server) CreateSubnetCIDRReservation(subnetID, cidr, reservationType string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, e := s.st.createReservation(subnetID, cidr, reservationType, "")
	return asErr(e)
}

// CreateSecurityGroup creates a security group and returns its id. A name
// that looks like a group id ("sg-1", as scenario files and ENIConfigs
// write them) becomes the id too, so such a file can name groups before
// they exist.
func (s *Server) CreateSecurityGroup(name, vpcID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, e := s.st.createSG(name, name, vpcID)
	if e != nil {
		return "", e
	}
	if strings.HasPrefix(name, "sg-") && len(name) > 3 && !s.st.idTaken(name) {
		delete(s.st.sgs, g.id)
		g.id = name
		s.st.sgs[name] = g
	}
	return g.id, nil
}

// RunInstance launches one instance with its primary ENI at device 0.
func (s *Server) RunInstance(spec InstanceSpec) (Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Clock.Now()
	ins, e := s.st.runInstances(spec.Type, spec.SubnetID, spec.SecurityGroups, netip.Addr{}, 1, "ami-enilab", nil, now)
	if e != nil {
		return Instance{}, e
	}
	s.emitLaunch(ins, now)
	return ins[0].view(), nil
}

// TerminateInstance terminates an instance: every ENI is detached and those
// marked DeleteOnTermination are deleted. Terminating a terminated
// instance is a no-op, as in EC2.
func (s *Server) TerminateInstance(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.st.instances[id]
	if !ok {
		return instanceNotFound(id)
	}
	s.terminateLocked(in)
	return nil
}

func (s *Server) terminateLocked(in *instance) {
	if in.state != "running" {
		return
	}
	now := s.cfg.Clock.Now()
	detached, deleted := s.st.terminate(in)
	for _, n := range detached {
		s.emit(Event{Kind: ENIDetached, InstanceID: in.id, ENI: n.view(), At: now})
	}
	for _, n := range deleted {
		s.emit(Event{Kind: ENIDeleted, InstanceID: in.id, ENI: n.view(), At: now})
	}
	s.emit(Event{Kind: InstanceTerminated, InstanceID: in.id, At: now})
}

func (s *Server) emitLaunch(ins []*instance, now time.Time) {
	for _, in := range ins {
		for _, n := range in.enis {
			s.emit(Event{Kind: ENIAttached, InstanceID: in.id, ENI: n.view(), At: now})
		}
	}
}

// Instance returns a running instance.
func (s *Server) Instance(id string) (Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.st.instances[id]
	if !ok || in.state != "running" {
		return Instance{}, false
	}
	return in.view(), true
}

// ENI returns a network interface.
func (s *Server) ENI(id string) (ENI, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.st.enis[id]
	if !ok {
		return ENI{}, false
	}
	return n.view(), true
}

// ENIs returns every network interface in creation order.
func (s *Server) ENIs() []ENI {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ENI, 0, len(s.st.enis))
	for _, n := range s.st.eniList {
		if !n.deleted {
			out = append(out, n.view())
		}
	}
	return out
}

// Subnet returns a subnet.
func (s *Server) Subnet(id string) (Subnet, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, ok := s.st.subnets[id]
	if !ok {
		return Subnet{}, false
	}
	return sn.view(), true
}

// Subnets returns every subnet in creation order.
func (s *Server) Subnets() []Subnet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subnetViewsLocked()
}

func (s *Server) subnetViewsLocked() []Subnet {
	sns := s.st.sortedSubnets()
	out := make([]Subnet, 0, len(sns))
	for _, sn := range sns {
		out = append(out, sn.view())
	}
	return out
}

func (st *state) sortedSubnets() []*subnet {
	out := make([]*subnet, 0, len(st.subnets))
	for _, sn := range st.subnets {
		out = append(out, sn)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// VPC returns a VPC.
func (s *Server) VPC(id string) (VPC, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.st.vpcs[id]
	if !ok {
		return VPC{}, false
	}
	return v.view(), true
}

// ---- views ----

func (v *vpc) view() VPC {
	out := VPC{ID: v.id}
	for _, c := range v.cidrs {
		out.CIDRs = append(out.CIDRs, c.p)
	}
	return out
}

func (sn *subnet) view() Subnet {
	return Subnet{ID: sn.id, VPCID: sn.vpcID, AZ: sn.az, CIDR: sn.cidr, Tags: cloneMap(sn.tags), Free: sn.free}
}

func (n *eni) view() ENI {
	e := ENI{
		ID: n.id, MAC: n.mac, SubnetID: n.subnet.id, VPCID: n.subnet.vpcID, AZ: n.subnet.az,
		Description: n.desc, Status: "available", Tags: cloneMap(n.tags),
		SecurityGroups: append([]string(nil), n.sgs...), SubnetCIDR: n.subnet.cidr,
	}
	if n.inst != nil {
		e.Status = "in-use"
		e.InstanceID = n.inst.id
		e.AttachmentID = n.attachID
		e.DeviceIndex = n.device
		e.NetworkCard = n.card
		e.DeleteOnTermination = n.dot
	}
	if len(n.ips) > 0 {
		e.PrimaryIP = n.ips[0].a
		for _, a := range n.ips[1:] {
			e.SecondaryIPs = append(e.SecondaryIPs, a.a)
		}
	}
	for _, p := range n.pfx {
		e.Prefixes = append(e.Prefixes, p.p)
	}
	return e
}

func (in *instance) view() Instance {
	out := Instance{ID: in.id, Type: in.typ, AZ: in.az, SubnetID: in.subnet.id, VPCID: in.subnet.vpcID, PrimaryIP: in.primaryIP}
	for _, n := range in.sortedENIs() {
		out.ENIs = append(out.ENIs, n.view())
	}
	return out
}

func (in *instance) sortedENIs() []*eni {
	out := append([]*eni(nil), in.enis...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].card != out[j].card {
			return out[i].card < out[j].card
		}
		return out[i].device < out[j].device
	})
	return out
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
