// Package netsetup is the node networking ipamd does inside a node's network
// namespace (DESIGN §3 "Node networking"): each secondary ENI gets its own
// route table and a source rule so that traffic from its addresses leaves
// through it, and the host gets the rule that keeps marked traffic on the
// main table. It also names and finds the host side of pod veths, which ipamd
// needs when it restores state. Every change goes through a netlink handle
// bound to the node namespace, so no thread of the caller ever switches
// namespaces and the machine's root namespace is never touched.
package netsetup

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/nsutil"
)

// Priorities and marks of the upstream VPC CNI's policy routing. They are
// part of what a user debugs (`ip rule`), so they match upstream exactly.
const (
	// ENIRulePriority is the priority of `from <eni primary ip> lookup <table>`.
	ENIRulePriority = 32765
	// FwmarkRulePriority is the priority of `fwmark 0x80/0x80 lookup main`.
	FwmarkRulePriority = 1024
	// ConnMark is the mark upstream's iptables rules put on connections that
	// arrived through the primary ENI, so replies stay on the main table.
	ConnMark = 0x80
	// DefaultMTU is used when ENI.MTU is zero (upstream AWS_VPC_ENI_MTU).
	DefaultMTU = 9001
	// MainTable is the kernel's main routing table.
	MainTable = unix.RT_TABLE_MAIN
)

// ENI describes one attached ENI as ipamd learned it from IMDS.
type ENI struct {
	MAC          string       // link's hardware address, e.g. "02:1f:…"
	PrimaryIP    netip.Addr   // the ENI's primary private IPv4 address
	SubnetCIDR   netip.Prefix // the ENI's subnet; its base + 1 is the gateway
	DeviceNumber int          // device index; 0 is the primary ENI, never set up here
	MTU          int          // 0 = DefaultMTU
}

// Table is the route table of the ENI's device: device number + 1, as
// upstream, so a pod rule can name it from DeviceNumber alone.
func (e ENI) Table() int { return e.DeviceNumber + 1 }

// Gateway is the subnet's router address (base + 1), the VPC's first host.
func (e ENI) Gateway() netip.Addr { return e.SubnetCIDR.Masked().Addr().Next() }

// Validate reports every problem with e at once.
func (e ENI) Validate() error {
	var errs []error
	if _, err := net.ParseMAC(e.MAC); err != nil {
		errs = append(errs, fmt.Errorf("MAC %q is not a hardware address", e.MAC))
	}
	if !e.PrimaryIP.Is4() {
		errs = append(errs, fmt.Errorf("primary IP %v is not an IPv4 address", e.PrimaryIP))
	}
	switch {
	case !e.SubnetCIDR.IsValid() || !e.SubnetCIDR.Addr().Is4():
		errs = append(errs, fmt.Errorf("subnet CIDR %v is not an IPv4 prefix", e.SubnetCIDR))
	case e.SubnetCIDR.Bits() > 28:
		errs = append(errs, fmt.Errorf("subnet CIDR %v is smaller than a VPC subnet can be (/28)", e.SubnetCIDR))
	case e.PrimaryIP.IsValid() && !e.SubnetCIDR.Contains(e.PrimaryIP):
		errs = append(errs, fmt.Errorf("primary IP %v is outside subnet %v", e.PrimaryIP, e.SubnetCIDR))
	}
	if e.DeviceNumber < 1 {
		errs = append(errs, fmt.Errorf("device number %d: only secondary ENIs (device ≥ 1) are set up by ipamd; the primary ENI belongs to the instance", e.DeviceNumber))
	}
	if e.MTU != 0 && (e.MTU < 576 || e.MTU > 9001) {
		errs = append(errs, fmt.Errorf("MTU %d is outside 576..9001", e.MTU))
	}
	return errors.Join(errs...)
}

func (e ENI) mtu() int {
	if e.MTU == 0 {
		return DefaultMTU
	}
	return e.MTU
}

// LinkWait is how long SetupENI keeps looking for an ENI's link before giving
// up: the instance's hot-plug may lag the attachment IMDS already reports.
// A variable so tests can shorten it.
var LinkWait = 5 * time.Second

// ErrLinkNotFound is returned (wrapped) by SetupENI when no link in the node
// namespace carries the ENI's MAC within LinkWait.
var ErrLinkNotFound = errors.New("no link with that MAC")

// SetupENI configures a secondary ENI's link in the node namespace at nsPath:
// MTU, up, primary IP with the subnet mask, route table device+1 holding
// `gw/32 scope link` and `default via gw`, no subnet route in main, and the
// rule `from <primary ip> lookup <table>` at priority 32765. Running it again
// changes nothing; it repairs whatever drifted.
func SetupENI(nsPath string, eni ENI) error {
	if err := eni.Validate(); err != nil {
		return fmt.Errorf("netsetup: ENI %s: %w", eni.MAC, err)
	}
	h, err := nsutil.Handle(nsPath)
	if err != nil {
		return fmt.Errorf("netsetup: %w", err)
	}
	defer h.Close()

	link, err := waitLinkByMAC(h, eni.MAC, LinkWait)
	if err != nil {
		return fmt.Errorf("netsetup: ENI %s in %s: %w", eni.MAC, nsPath, err)
	}
	name := link.Attrs().Name
	wrap := func(what string, err error) error {
		return fmt.Errorf("netsetup: ENI %s (%s, device %d): %s: %w", eni.MAC, name, eni.DeviceNumber, what, err)
	}
	if link.Attrs().MTU != eni.mtu() {
		if err := h.LinkSetMTU(link, eni.mtu()); err != nil {
			return wrap(fmt.Sprintf("set MTU %d", eni.mtu()), err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return wrap("set up", err)
	}

	// Exactly one IPv4 address: the primary one with the subnet's mask.
	want := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(eni.PrimaryIP, eni.SubnetCIDR.Bits()))}
	addrs, err := nsutil.Retry(func() ([]netlink.Addr, error) { return h.AddrList(link, netlink.FAMILY_V4) })
	if err != nil {
		return wrap("list addresses", err)
	}
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == want.IPNet.String() {
			have = true
			continue
		}
		if err := h.AddrDel(link, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return wrap("remove stale address "+a.IPNet.String(), err)
		}
	}
	if !have {
		if err := h.AddrAdd(link, want); err != nil && !errors.Is(err, unix.EEXIST) {
			return wrap("add address "+want.IPNet.String(), err)
		}
	}

	gw := eni.Gateway()
	idx := link.Attrs().Index
	routes := []*netlink.Route{
		{LinkIndex: idx, Dst: ipNet(netip.PrefixFrom(gw, 32)), Scope: netlink.SCOPE_LINK, Table: eni.Table()},
		{LinkIndex: idx, Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: gw.AsSlice(), Table: eni.Table()},
	}
	for _, r := range routes {
		if err := h.RouteReplace(r); err != nil {
			return wrap(fmt.Sprintf("route %v in table %d", r.Dst, r.Table), err)
		}
	}
	// The kernel added `<subnet> dev ethN proto kernel` to main with the
	// address; upstream removes it so only eth0 routes the subnet in main.
	subnetRoute := &netlink.Route{LinkIndex: idx, Dst: ipNet(eni.SubnetCIDR.Masked()), Table: MainTable, Scope: netlink.SCOPE_LINK}
	if err := h.RouteDel(subnetRoute); err != nil && !errors.Is(err, unix.ESRCH) {
		return wrap("remove subnet route "+eni.SubnetCIDR.Masked().String()+" from main", err)
	}

	rule := netlink.NewRule()
	rule.Family = netlink.FAMILY_V4
	rule.Src = ipNet(netip.PrefixFrom(eni.PrimaryIP, 32))
	rule.Table = eni.Table()
	rule.Priority = ENIRulePriority
	if err := ensureRule(h, rule); err != nil {
		return wrap(fmt.Sprintf("rule from %v lookup %d", eni.PrimaryIP, eni.Table()), err)
	}
	return nil
}

// TeardownENI undoes SetupENI: the source rule, the ENI's route table and,
// while the link is still there, its address; the link is set down. A link
// that is already gone (the ENI was detached) is not an error.
func TeardownENI(nsPath string, eni ENI) error {
	if !eni.PrimaryIP.Is4() || eni.DeviceNumber < 1 {
		return fmt.Errorf("netsetup: teardown ENI %s: need an IPv4 primary IP and device ≥ 1 (got %v, %d)", eni.MAC, eni.PrimaryIP, eni.DeviceNumber)
	}
	h, err := nsutil.Handle(nsPath)
	if err != nil {
		return fmt.Errorf("netsetup: %w", err)
	}
	defer h.Close()
	var errs []error

	rule := netlink.NewRule()
	rule.Family = netlink.FAMILY_V4
	rule.Src = ipNet(netip.PrefixFrom(eni.PrimaryIP, 32))
	rule.Table = eni.Table()
	rule.Priority = ENIRulePriority
	if err := deleteRule(h, rule); err != nil {
		errs = append(errs, fmt.Errorf("rule from %v lookup %d: %w", eni.PrimaryIP, eni.Table(), err))
	}

	routes, err := nsutil.Retry(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: eni.Table()}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("list table %d: %w", eni.Table(), err))
	}
	for _, r := range routes {
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("route %v in table %d: %w", r.Dst, r.Table, err))
		}
	}

	if link, err := linkByMAC(h, eni.MAC); err == nil {
		if eni.SubnetCIDR.IsValid() {
			a := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(eni.PrimaryIP, eni.SubnetCIDR.Bits()))}
			if err := h.AddrDel(link, a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				errs = append(errs, fmt.Errorf("address %v: %w", a.IPNet, err))
			}
		}
		if err := h.LinkSetDown(link); err != nil && !isLinkGone(err) {
			errs = append(errs, fmt.Errorf("set down: %w", err))
		}
	} else if !errors.Is(err, ErrLinkNotFound) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("netsetup: teardown ENI %s (device %d): %w", eni.MAC, eni.DeviceNumber, err)
	}
	return nil
}

// SetupHost does the node-wide part: the rule `fwmark 0x80/0x80 lookup main`
// at priority 1024, which keeps connections marked as having arrived through
// the primary ENI answering through it. The lab has no egress beyond the
// VPC, so the SNAT and connmark iptables rules of upstream are not modelled;
// vpcCIDRs and externalSNAT are validated and otherwise unused. Idempotent.
func SetupHost(nsPath string, vpcCIDRs []netip.Prefix, primaryIP netip.Addr, externalSNAT bool) error {
	var errs []error
	if !primaryIP.Is4() {
		errs = append(errs, fmt.Errorf("primary IP %v is not an IPv4 address", primaryIP))
	}
	for _, c := range vpcCIDRs {
		if !c.IsValid() || !c.Addr().Is4() {
			errs = append(errs, fmt.Errorf("VPC CIDR %v is not an IPv4 prefix", c))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("netsetup: host setup: %w", err)
	}
	_ = externalSNAT
	h, err := nsutil.Handle(nsPath)
	if err != nil {
		return fmt.Errorf("netsetup: %w", err)
	}
	defer h.Close()
	if err := ensureRule(h, FwmarkRule()); err != nil {
		return fmt.Errorf("netsetup: host rule fwmark %#x/%#x lookup main: %w", ConnMark, ConnMark, err)
	}
	return nil
}

// FwmarkRule is the host rule SetupHost installs.
func FwmarkRule() *netlink.Rule {
	mask := uint32(ConnMark)
	r := netlink.NewRule()
	r.Family = netlink.FAMILY_V4
	r.Mark = ConnMark
	r.Mask = &mask
	r.Table = MainTable
	r.Priority = FwmarkRulePriority
	return r
}

// HostVethExists reports whether the node namespace at nsPath has a link
// called name; ipamd uses it to drop restored entries of pods that are gone.
func HostVethExists(nsPath, name string) (bool, error) {
	h, err := nsutil.Handle(nsPath)
	if err != nil {
		return false, fmt.Errorf("netsetup: %w", err)
	}
	defer h.Close()
	_, err = h.LinkByName(name)
	if err == nil {
		return true, nil
	}
	if isLinkGone(err) {
		return false, nil
	}
	return false, fmt.Errorf("netsetup: look up link %q in %s: %w", name, nsPath, err)
}

// HostVethName is the name of a pod's host-side veth: prefix + the first 11
// hex digits of sha1("<namespace>.<pod>"), as upstream, so the name is stable
// across ADD retries and ipamd restarts and fits IFNAMSIZ with a prefix of up
// to 4 characters.
func HostVethName(prefix, namespace, pod string) string {
	sum := sha1.Sum([]byte(namespace + "." + pod))
	return prefix + hex.EncodeToString(sum[:])[:11]
}

// RuleExists reports whether a rule equal to want (priority, table, source,
// destination, mark/mask) is installed; exported for checks and tests.
func RuleExists(h *netlink.Handle, want *netlink.Rule) (bool, error) {
	rules, err := nsutil.Retry(func() ([]netlink.Rule, error) { return h.RuleList(netlink.FAMILY_V4) })
	if err != nil {
		return false, err
	}
	for _, r := range rules {
		if SameRule(r, *want) {
			return true, nil
		}
	}
	return false, nil
}

// SameRule compares the fields enilab's rules use.
func SameRule(a, b netlink.Rule) bool {
	if a.Priority != b.Priority || a.Table != b.Table || a.Mark != b.Mark {
		return false
	}
	if netString(a.Src) != netString(b.Src) || netString(a.Dst) != netString(b.Dst) {
		return false
	}
	am, bm := maskOf(a), maskOf(b)
	return am == bm
}

func maskOf(r netlink.Rule) uint32 {
	if r.Mask == nil {
		if r.Mark != 0 {
			return 0xffffffff
		}
		return 0
	}
	return *r.Mask
}

func netString(n *net.IPNet) string {
	if n == nil || n.IP == nil {
		return ""
	}
	ones, _ := n.Mask.Size()
	if ones == 0 && n.IP.IsUnspecified() {
		return ""
	}
	return n.String()
}

func ensureRule(h *netlink.Handle, rule *netlink.Rule) error {
	ok, err := RuleExists(h, rule)
	if err != nil {
		return fmt.Errorf("list rules: %w", err)
	}
	if ok {
		return nil
	}
	if err := h.RuleAdd(rule); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

func deleteRule(h *netlink.Handle, rule *netlink.Rule) error {
	for i := 0; i < 8; i++ { // duplicates can exist; remove them all
		err := h.RuleDel(rule)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func waitLinkByMAC(h *netlink.Handle, mac string, wait time.Duration) (netlink.Link, error) {
	deadline := time.Now().Add(wait)
	delay := 20 * time.Millisecond
	for {
		link, err := linkByMAC(h, mac)
		if err == nil || !errors.Is(err, ErrLinkNotFound) || time.Now().After(deadline) {
			if errors.Is(err, ErrLinkNotFound) {
				err = fmt.Errorf("%w after waiting %v", err, wait)
			}
			return link, err
		}
		time.Sleep(delay)
		if delay < 500*time.Millisecond {
			delay *= 2
		}
	}
}

func linkByMAC(h *netlink.Handle, mac string) (netlink.Link, error) {
	want, err := net.ParseMAC(mac)
	if err != nil {
		return nil, fmt.Errorf("MAC %q: %w", mac, err)
	}
	links, err := nsutil.Retry(func() ([]netlink.Link, error) { return h.LinkList() })
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		if strings.EqualFold(l.Attrs().HardwareAddr.String(), want.String()) {
			return l, nil
		}
	}
	return nil, fmt.Errorf("%w %s", ErrLinkNotFound, want)
}

func isLinkGone(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
