package cniplugin

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/internal/datapath"
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

// hostPrefixLen is the pod address's full length: /32 or /128.
func hostPrefixLen(ip netip.Addr) int { return ip.BitLen() }
