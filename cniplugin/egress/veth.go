package egress

import (
	"errors"
	"fmt"
	"net"

	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// setupContainer makes the pod's v4if0 as upstream's setupContainerVethV4
// does: a veth pair (host side named by plugins' SetupVeth, veth…), the
// host-local address on v4if0 with its routes (ConfigureIface), then the
// subnet route replaced by a /32 scope-link route to the gateway and the
// subnet via the gateway, both with the pod's address as source. It returns
// the host and container interfaces for the result.
func setupContainer(nsPath string, mtu int, tmp *types100.Result) (host, cont *types100.Interface, err error) {
	host, cont = &types100.Interface{}, &types100.Interface{}
	err = ns.WithNetNSPath(nsPath, func(hostNS ns.NetNS) error {
		hv, cv, err := ip.SetupVeth(IPv4IfName, mtu, "", hostNS)
		if err != nil {
			return fmt.Errorf("veth %s: %w", IPv4IfName, err)
		}
		host.Name, host.Mac = hv.Name, hv.HardwareAddr.String()
		cont.Name, cont.Mac, cont.Sandbox = cv.Name, cv.HardwareAddr.String(), nsPath
		for _, ipc := range tmp.IPs {
			ipc.Interface = types100.Int(1)
		}
		tmp.Interfaces = []*types100.Interface{host, cont}
		if err := ipam.ConfigureIface(IPv4IfName, tmp); err != nil {
			return fmt.Errorf("configure %s: %w", IPv4IfName, err)
		}
		link, err := netlink.LinkByName(IPv4IfName)
		if err != nil {
			return fmt.Errorf("failed to look up %q: %w", IPv4IfName, err)
		}
		for _, ipc := range tmp.IPs {
			subnet := &net.IPNet{IP: ipc.Address.IP.Mask(ipc.Address.Mask), Mask: ipc.Address.Mask}
			if err := netlink.RouteDel(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: subnet, Scope: netlink.SCOPE_NOWHERE}); err != nil {
				return fmt.Errorf("failed to delete route to %s: %w", subnet, err)
			}
			for _, r := range []netlink.Route{
				{LinkIndex: link.Attrs().Index, Dst: hostRoute(ipc.Gateway), Scope: netlink.SCOPE_LINK, Src: ipc.Address.IP},
				{LinkIndex: link.Attrs().Index, Dst: subnet, Scope: netlink.SCOPE_UNIVERSE, Gw: ipc.Gateway, Src: ipc.Address.IP},
			} {
				if err := netlink.RouteAdd(&r); err != nil {
					return fmt.Errorf("failed to add route to %s: %w", r.Dst, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return host, cont, nil
}

// setupHost gives the host veth the gateway address (/32, scope link) and
// routes the pod's address to it, as upstream's setupHostVethV4.
func setupHost(vethName string, tmp *types100.Result) error {
	veth, err := netlink.LinkByName(vethName)
	if err != nil {
		return fmt.Errorf("failed to lookup %q: %w", vethName, err)
	}
	for _, ipc := range tmp.IPs {
		addr := &netlink.Addr{IPNet: hostRoute(ipc.Gateway), Scope: int(netlink.SCOPE_LINK)}
		if err := netlink.AddrAdd(veth, addr); err != nil {
			return fmt.Errorf("failed to add IP addr %s to %s: %w", addr.IPNet, vethName, err)
		}
		r := &netlink.Route{LinkIndex: veth.Attrs().Index, Scope: netlink.SCOPE_LINK, Dst: hostRoute(ipc.Address.IP)}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("failed to add route on host: %w", err)
		}
	}
	return nil
}

// podAddrs lists the IPv4 addresses on the pod's v4if0 (none when the link
// or the namespace is gone); removeLink deletes v4if0, which takes the host
// veth with it.
func podAddrs(nsPath string, removeLink bool) ([]net.IP, error) {
	var ips []net.IP
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		link, err := netlink.LinkByName(IPv4IfName)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return nil
			}
			return fmt.Errorf("failed to get container link by name %s: %w", IPv4IfName, err)
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			return fmt.Errorf("failed to get IP addresses for link %s: %w", IPv4IfName, err)
		}
		for _, a := range addrs {
			if a.IP.IsLinkLocalUnicast() {
				ips = append(ips, a.IP)
			}
		}
		if removeLink {
			if err := netlink.LinkDel(link); err != nil {
				return fmt.Errorf("delete %s: %w", IPv4IfName, err)
			}
		}
		return nil
	})
	return ips, err
}

func hostRoute(a net.IP) *net.IPNet {
	bits := 128
	if a.To4() != nil {
		bits = 32
	}
	return &net.IPNet{IP: a, Mask: net.CIDRMask(bits, bits)}
}
