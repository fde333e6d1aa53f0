package netsetup

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
)

// AWS_VPC_K8S_CNI_RANDOMIZESNAT values.
const (
	RandomPRNG = "prng"       // --random-fully (falls back to --random)
	RandomHash = "hashrandom" // --random
	Sequential = "none"       // no flag
)

// DefaultConnmark is the mark when SNAT.Connmark is zero.
const DefaultConnmark = 0x80

// SNAT is the node's egress settings, upstream networkutils' environment.
type SNAT struct {
	External        bool     // AWS_VPC_K8S_CNI_EXTERNALSNAT
	ExcludeCIDRs    []string // AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS, parsed IPv4 CIDRs
	Randomize       string   // AWS_VPC_K8S_CNI_RANDOMIZESNAT; "" = RandomPRNG
	Connmark        uint32   // AWS_VPC_K8S_CNI_CONNMARK; 0 = DefaultConnmark
	NodePortSupport bool     // AWS_VPC_CNI_NODE_PORT_SUPPORT (upstream default true)
	VethPrefix      string   // AWS_VPC_K8S_CNI_VETHPREFIX; "" = eni
}

func (s SNAT) randomize() string {
	if s.Randomize == "" {
		return RandomPRNG
	}
	return s.Randomize
}

func (s SNAT) connmark() uint32 {
	if s.Connmark == 0 {
		return DefaultConnmark
	}
	return s.Connmark
}

func (s SNAT) vethPrefix() string {
	if s.VethPrefix == "" {
		return "eni"
	}
	return s.VethPrefix
}

// Host is what the node-wide set-up needs: the primary ENI and the VPC.
type Host struct {
	PrimaryMAC string
	PrimaryIP  netip.Addr
	VPCCIDRs   []netip.Prefix
	MTU        int // AWS_VPC_ENI_MTU, set on the primary ENI; 0 = DefaultMTU
	SNAT       SNAT
	// PodSGStrict is security groups for pods in strict mode: the local
	// table's rule moves from priority 0 to LocalRulePriority, below the
	// branch pods' iif rules, so what a branch pod sends to the node's own
	// addresses leaves by its VLAN too.
	PodSGStrict bool
	// IPv6 is IPv6 mode (upstream's v6Enabled): the main ENI and local
	// rules are IPv6 ones, pods' IPv4 egress addresses are shielded from
	// each other (blockNodeLocalV4), and there are no SNAT or connmark
	// rules. PrimaryIP and VPCCIDRs are not used.
	IPv6 bool
}

// LocalRulePriority is where strict mode puts `lookup local` (upstream's
// networkutils localRulePriority).
const LocalRulePriority = 20

// Validate reports every problem with h at once.
func (h Host) Validate() error {
	var errs []error
	if !h.IPv6 && !h.PrimaryIP.Is4() {
		errs = append(errs, fmt.Errorf("primary IP %v is not an IPv4 address", h.PrimaryIP))
	}
	for _, c := range h.VPCCIDRs {
		if !c.IsValid() || !c.Addr().Is4() {
			errs = append(errs, fmt.Errorf("VPC CIDR %v is not an IPv4 prefix", c))
		}
	}
	for _, c := range h.SNAT.ExcludeCIDRs {
		if p, err := netip.ParsePrefix(c); err != nil || !p.Addr().Is4() {
			errs = append(errs, fmt.Errorf("excluded CIDR %q is not an IPv4 prefix", c))
		}
	}
	if h.MTU != 0 && (h.MTU < 576 || h.MTU > 9001) {
		errs = append(errs, fmt.Errorf("MTU %d is outside 576..9001", h.MTU))
	}
	switch h.SNAT.randomize() {
	case RandomPRNG, RandomHash, Sequential:
	default:
		errs = append(errs, fmt.Errorf("SNAT randomization %q is not prng, hashrandom or none", h.SNAT.Randomize))
	}
	return errors.Join(errs...)
}

func (h Host) vpcCIDRs() []string {
	out := make([]string, 0, len(h.VPCCIDRs))
	for _, c := range h.VPCCIDRs {
		out = append(out, c.Masked().String())
	}
	return out
}

// SetupHost is upstream's SetupHostNetwork in the node namespace at
// nsPath: the primary ENI's MTU; in IPv6 mode the IPv4 rule that keeps
// pods off each other's egress addresses (blockNodeLocalV4); the rule
// `fwmark <mark>/<mark> lookup main` at priority 1024, of the mode's
// family (removed first; added again unless node-port support is off and
// SNAT is external); in strict mode the local rule moved to
// LocalRulePriority (and, in IPv6 mode, the VPC router's ICMPv6 kept
// local); loose reverse-path filtering on the primary ENI (upstream's init
// container does this); then, in IPv4 mode, UpdateHostSNATRules and, as
// nodeInit does next, CleanUpStaleAWSChains (cleanUpStaleChains) with what
// the rules' iptables batch already knows. Idempotent. The clean-up's
// failure, which upstream only logs, comes back as a *StaleChainsError.
func SetupHost(nsPath string, host Host) error {
	if err := host.Validate(); err != nil {
		return fmt.Errorf("netsetup: host setup: %w", err)
	}
	h, err := nsutil.Handle(nsPath)
	if err != nil {
		return fmt.Errorf("netsetup: %w", err)
	}
	defer h.Close()
	link, err := linkByMAC(h, host.PrimaryMAC)
	if err != nil {
		return fmt.Errorf("netsetup: host setup: failed to find the link primary ENI with MAC address %s: %w", host.PrimaryMAC, err)
	}
	mtu := host.MTU
	if mtu == 0 {
		mtu = DefaultMTU
	}
	if link.Attrs().MTU != mtu {
		if err := h.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("netsetup: host setup: failed to set primary interface MTU to %d: %w", mtu, err)
		}
	}
	family := unix.AF_INET
	if host.IPv6 {
		family = unix.AF_INET6
		if err := blockNodeLocalV4(nsPath); err != nil {
			return fmt.Errorf("netsetup: host setup: failed to enable IPv6: %w", err)
		}
	}
	mark := host.SNAT.connmark()
	rule := kernel.FwmarkRule()
	rule.Mark, rule.Mask, rule.Family = mark, &mark, family
	if err := deleteRule(h, rule); err != nil {
		return fmt.Errorf("netsetup: host setup: failed to delete old main ENI rule: %w", err)
	}
	if host.SNAT.NodePortSupport || !host.SNAT.External {
		if err := ensureRule(h, rule); err != nil {
			return fmt.Errorf("netsetup: host setup: failed to add main ENI rule fwmark %#x/%#x: %w", mark, mark, err)
		}
	}
	if host.PodSGStrict {
		if err := moveLocalRule(h, family); err != nil {
			return fmt.Errorf("netsetup: host setup: %w", err)
		}
		if host.IPv6 {
			if err := ensureRule(h, ipv6GatewayRule()); err != nil {
				return fmt.Errorf("netsetup: host setup: createIPv6GatewayRule: unable to create rule for IPv6 gateway: %w", err)
			}
		}
	}
	if err := looseRPFilter(nsPath, link.Attrs().Name); err != nil {
		return fmt.Errorf("netsetup: %w", err)
	}
	if host.IPv6 {
		// Upstream's UpdateHostSNATRules: "For v6, we don't add any SNAT
		// or Connmark rules".
		return nil
	}
	return updateHostSNATRules(nsPath, link.Attrs().Name, host, true)
}

// StaleChainsError is SetupHost's report that the host is set up but the
// clean-up of stale chains (cleanUpStaleChains) failed.
type StaleChainsError struct{ Err error }

func (e *StaleChainsError) Error() string { return e.Err.Error() }
func (e *StaleChainsError) Unwrap() error { return e.Err }

// UpdateHostSNATRules is upstream's UpdateHostSNATRules (IPv4): the SNAT
// chain and mangle rules (buildSNATRules), then the connmark rules, or
// their removal with external SNAT. ipamd calls it at start-up (through
// SetupHost) and whenever the VPC's CIDRs change.
func UpdateHostSNATRules(nsPath string, host Host) error {
	if err := host.Validate(); err != nil {
		return fmt.Errorf("netsetup: SNAT rules: %w", err)
	}
	h, err := nsutil.Handle(nsPath)
	if err != nil {
		return fmt.Errorf("netsetup: %w", err)
	}
	defer h.Close()
	link, err := linkByMAC(h, host.PrimaryMAC)
	if err != nil {
		return fmt.Errorf("netsetup: SNAT rules: no primary interface found: %w", err)
	}
	return updateHostSNATRules(nsPath, link.Attrs().Name, host, false)
}

// updateHostSNATRules writes the host's rules through one batch and, with
// cleanUp, then removes stale chains through it.
func updateHostSNATRules(nsPath, primaryIntf string, host Host, cleanUp bool) error {
	ipt, err := newIPTables(nsPath)
	if err != nil {
		return fmt.Errorf("netsetup: SNAT rules: %w", err)
	}
	api, commit := batched(nsPath, ipt)
	err = hostSNATRules(api, primaryIntf, host)
	if err == nil {
		err = commit()
	}
	if err != nil {
		return fmt.Errorf("netsetup: SNAT rules in %s: %w", nsPath, err)
	}
	if cleanUp {
		if err := cleanUpStaleChains(api); err != nil {
			return &StaleChainsError{Err: fmt.Errorf("netsetup: stale chain cleanup in %s: %w", nsPath, err)}
		}
	}
	return nil
}

// hostSNATRules applies the rules through ipt.
func hostSNATRules(ipt iptablesAPI, primaryIntf string, host Host) error {
	rules, err := buildSNATRules(ipt, host.SNAT, host.vpcCIDRs(), host.PrimaryIP, primaryIntf)
	if err != nil {
		return err
	}
	if err := applyRules(ipt, rules); err != nil {
		return err
	}
	if host.SNAT.External {
		return cleanupConnmark(ipt, host.SNAT.vethPrefix(), host.SNAT.connmark())
	}
	exempt := append(host.vpcCIDRs(), host.SNAT.ExcludeCIDRs...)
	if err := setupConnmark(ipt, host.SNAT.vethPrefix(), host.SNAT.connmark(), exempt); err != nil {
		return fmt.Errorf("connmark: %w", err)
	}
	return nil
}

// looseRPFilter sets rp_filter=2 (loose) on the primary ENI, as upstream's
// init container does (aws-vpc-cni-init, configureSystemParams): traffic
// of pods on other ENIs may come back through it.
func looseRPFilter(nsPath, intf string) error {
	return nsutil.Do(nsPath, func() error {
		p := filepath.Join("/proc/sys/net/ipv4/conf", intf, "rp_filter")
		if err := os.WriteFile(p, []byte("2"), 0o644); err != nil {
			return fmt.Errorf("failed to set rp_filter for %s: %w", intf, err)
		}
		return nil
	})
}

// nodeLocalV4Comment names the IPv6-mode rule that keeps pods off each
// other's IPv4 egress addresses (upstream's wording).
const nodeLocalV4Comment = "Block Node Local Pod access via IPv4"

// blockNodeLocalV4 is upstream's setupRuleToBlockNodeLocalAccess for IPv4,
// which SetupHostNetwork runs in IPv6 mode (enableIPv6): a new connection
// forwarded to a pod's IPv4 egress address is rejected, first in FORWARD,
// unless the rule is there already.
func blockNodeLocalV4(nsPath string) error {
	ipt, err := newIPTables(nsPath)
	if err != nil {
		return fmt.Errorf("setupVeth network: failed to setup route to block pod access via IPv4 address: %w", err)
	}
	api, commit := batched(nsPath, ipt)
	spec := []string{"-d", datapath.EgressIPv4Subnet, "-m", "conntrack", "--ctstate", "NEW",
		"-m", "comment", "--comment", nodeLocalV4Comment, "-j", "REJECT"}
	if ok, err := api.Exists("filter", "FORWARD", spec...); ok && err == nil {
		return nil
	}
	err = api.Insert("filter", "FORWARD", 1, spec...)
	if err == nil {
		err = commit()
	}
	if err != nil {
		return fmt.Errorf("setupVeth network: failed to setup route to block pod access via IPv4 address: failed adding v4 drop route: %w", err)
	}
	return nil
}
