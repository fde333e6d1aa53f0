package netsetup

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
)

// ErrLinkNotFound is returned (wrapped) by SetupENI when no link in the node
// namespace carries the ENI's MAC within the ENI's LinkWait.
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

	link, err := waitLinkByMAC(h, eni.MAC, eni.linkWait())
	if err != nil {
		return fmt.Errorf("netsetup: ENI %s in %s: %w", eni.MAC, nsPath, err)
	}
	for _, step := range []func(*netlink.Handle, netlink.Link, ENI) error{
		setupLink, setupAddress, setupRoutes, setupRule,
	} {
		if err := step(h, link, eni); err != nil {
			return fmt.Errorf("netsetup: ENI %s (%s, device %d): %w", eni.MAC, link.Attrs().Name, eni.DeviceNumber, err)
		}
	}
	return nil
}

// setupLink sets the ENI's MTU and brings its link up.
func setupLink(h *netlink.Handle, link netlink.Link, eni ENI) error {
	if link.Attrs().MTU != eni.mtu() {
		if err := h.LinkSetMTU(link, eni.mtu()); err != nil {
			return fmt.Errorf("set MTU %d: %w", eni.mtu(), err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	return nil
}

// setupAddress leaves exactly one IPv4 address on the link: the primary
// one with the subnet's mask.
func setupAddress(h *netlink.Handle, link netlink.Link, eni ENI) error {
	want := &netlink.Addr{IPNet: kernel.PrefixNet(netip.PrefixFrom(eni.PrimaryIP, eni.SubnetCIDR.Bits()))}
	addrs, err := nsutil.Retry(func() ([]netlink.Addr, error) { return h.AddrList(link, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == want.IPNet.String() {
			have = true
			continue
		}
		if err := h.AddrDel(link, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove stale address %s: %w", a.IPNet, err)
		}
	}
	if !have {
		if err := h.AddrAdd(link, want); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add address %s: %w", want.IPNet, err)
		}
	}
	return nil
}

// setupRoutes fills the ENI's table (gateway /32 and default via it) and
// removes the subnet route the kernel added to main with the address:
// upstream removes it so only eth0 routes the subnet in main.
func setupRoutes(h *netlink.Handle, link netlink.Link, eni ENI) error {
	gw := eni.Gateway()
	idx := link.Attrs().Index
	for _, r := range []*netlink.Route{
		kernel.HostRoute(gw, idx, eni.Table()),
		{LinkIndex: idx, Dst: kernel.PrefixNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: gw.AsSlice(), Table: eni.Table()},
	} {
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("route %v in table %d: %w", r.Dst, r.Table, err)
		}
	}
	subnetRoute := &netlink.Route{LinkIndex: idx, Dst: kernel.PrefixNet(eni.SubnetCIDR.Masked()), Table: datapath.MainTable, Scope: netlink.SCOPE_LINK}
	if err := h.RouteDel(subnetRoute); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("remove subnet route %s from main: %w", eni.SubnetCIDR.Masked(), err)
	}
	return nil
}

// setupRule installs `from <primary ip> lookup <table>`.
func setupRule(h *netlink.Handle, _ netlink.Link, eni ENI) error {
	if err := ensureRule(h, kernel.ENIRule(eni.PrimaryIP, eni.Table())); err != nil {
		return fmt.Errorf("rule from %v lookup %d: %w", eni.PrimaryIP, eni.Table(), err)
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
	if err := deleteRule(h, kernel.ENIRule(eni.PrimaryIP, eni.Table())); err != nil {
		errs = append(errs, fmt.Errorf("rule from %v lookup %d: %w", eni.PrimaryIP, eni.Table(), err))
	}
	errs = append(errs, flushTable(h, eni.Table())...)
	errs = append(errs, releaseLink(h, eni)...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("netsetup: teardown ENI %s (device %d): %w", eni.MAC, eni.DeviceNumber, err)
	}
	return nil
}

// flushTable deletes every route of table.
func flushTable(h *netlink.Handle, table int) []error {
	routes, err := nsutil.Retry(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return []error{fmt.Errorf("list table %d: %w", table, err)}
	}
	var errs []error
	for _, r := range routes {
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("route %v in table %d: %w", r.Dst, r.Table, err))
		}
	}
	return errs
}

// releaseLink removes the ENI's address from its link and sets it down,
// when the link is still there.
func releaseLink(h *netlink.Handle, eni ENI) []error {
	link, err := linkByMAC(h, eni.MAC)
	if errors.Is(err, ErrLinkNotFound) {
		return nil
	}
	if err != nil {
		return []error{err}
	}
	var errs []error
	if eni.SubnetCIDR.IsValid() {
		a := &netlink.Addr{IPNet: kernel.PrefixNet(netip.PrefixFrom(eni.PrimaryIP, eni.SubnetCIDR.Bits()))}
		if err := h.AddrDel(link, a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("address %v: %w", a.IPNet, err))
		}
	}
	if err := h.LinkSetDown(link); err != nil && !isLinkGone(err) {
		errs = append(errs, fmt.Errorf("set down: %w", err))
	}
	return errs
}
