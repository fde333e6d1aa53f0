package cniplugin

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/rpc"
)

// GatewayIPv6 is the link-local next hop of an IPv6 pod: upstream's
// CalculatePodIPv6GatewayIP(0), fe80::1, answered by a permanent
// neighbour entry for the host veth's MAC as 169.254.1.1 is in IPv4.
var GatewayIPv6 = netip.MustParseAddr("fe80::1")

// familyOf is the netlink family of ip.
func familyOf(ip netip.Addr) int {
	if ip.Is6() && !ip.Is4In6() {
		return netlink.FAMILY_V6
	}
	return netlink.FAMILY_V4
}

// gatewayOf is the pod's gateway for its address family.
func gatewayOf(ip netip.Addr) netip.Addr {
	if familyOf(ip) == netlink.FAMILY_V6 {
		return GatewayIPv6
	}
	return datapath.GatewayIP
}

// firstAddress is the pod's address in ipamd's reply: its IPv4 address in
// IPv4 mode, else its IPv6 address (ipamd in IPv6 mode answers IPv6Addr
// alone, as upstream's cmdAdd reads it).
func firstAddress(meta []*rpc.IPAllocationMetadata) (allocation, error) {
	if a, err := firstIPv4(meta); err == nil {
		return a, nil
	}
	for _, m := range meta {
		if m.GetIPv6Addr() == "" {
			continue
		}
		ip, err := netip.ParseAddr(m.GetIPv6Addr())
		if err != nil || !ip.Is6() || ip.Is4In6() {
			return allocation{}, fmt.Errorf("ipamd returned %q, which is not an IPv6 address", m.GetIPv6Addr())
		}
		a := allocation{IP: ip, DeviceNumber: int(m.GetDeviceNumber()), Table: datapath.MainTable}
		if m.GetRouteTableId() > 1 {
			a.Table = int(m.GetRouteTableId())
		}
		return a, nil
	}
	return allocation{}, errors.New("ipamd returned neither an IPv4 nor an IPv6 address")
}

// enablePodIPv6 writes disable_ipv6=0 for the pod's interface and lo inside
// the pod's namespace, as upstream's setupVeth does for an IPv6 address.
func enablePodIPv6(netns, ifName string) error {
	return nsutil.Do(netns, func() error {
		for _, name := range []string{ifName, "lo"} {
			path := "/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6"
			if err := os.WriteFile(path, []byte("0"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("pod %s: enable IPv6: %w", name, err)
			}
		}
		return nil
	})
}

// setupPodSideV6 is setupPodSide for an IPv6 address, as upstream's
// setupVeth: IPv6 enabled on the interface and lo, the /128, `fe80::1 dev
// eth0 scope link`, `default via fe80::1`, and a permanent neighbour
// fe80::1 → host veth MAC. enilab adds the address without duplicate
// address detection (IFA_F_NODAD) where upstream waits up to 10 s for it
// to finish: on a veth with one peer it cannot find a duplicate.
func setupPodSideV6(pod *netlink.Handle, a *Attachment, hostMAC []byte) error {
	if err := enablePodIPv6(a.Netns, a.IfName); err != nil {
		return err
	}
	podLink, err := pod.LinkByName(a.IfName)
	if err != nil {
		return fmt.Errorf("pod %s: %w", a.IfName, err)
	}
	a.PodMAC = podLink.Attrs().HardwareAddr.String()
	if err := pod.LinkSetUp(podLink); err != nil {
		return fmt.Errorf("pod %s: set up: %w", a.IfName, err)
	}
	if err := pod.AddrAdd(podLink, &netlink.Addr{IPNet: kernel.HostNet(a.IP), Flags: unix.IFA_F_NODAD}); err != nil {
		return fmt.Errorf("pod %s: add %v/128: %w", a.IfName, a.IP, err)
	}
	podIdx := podLink.Attrs().Index
	gw := GatewayIPv6
	for _, r := range []*netlink.Route{
		kernel.HostRoute(gw, podIdx, 0),
		{LinkIndex: podIdx, Dst: kernel.PrefixNet(netip.PrefixFrom(netip.IPv6Unspecified(), 0)), Gw: gw.AsSlice()},
	} {
		if err := pod.RouteReplace(r); err != nil {
			return fmt.Errorf("pod %s: route %v: %w", a.IfName, r.Dst, err)
		}
	}
	if err := pod.NeighSet(&netlink.Neigh{
		LinkIndex: podIdx, Family: netlink.FAMILY_V6, State: netlink.NUD_PERMANENT,
		IP: gw.AsSlice(), HardwareAddr: hostMAC,
	}); err != nil {
		return fmt.Errorf("pod %s: neighbour %v: %w", a.IfName, gw, err)
	}
	return nil
}

// hostPrefixLen is the pod address's full length: /32 or /128.
func hostPrefixLen(ip netip.Addr) int { return ip.BitLen() }
