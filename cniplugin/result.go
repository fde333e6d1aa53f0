package cniplugin

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/internal/datapath"
)

// Attachment is what ADD wired, in the shape every later command needs.
type Attachment struct {
	HostVeth, HostMAC string
	IfName, PodMAC    string
	Netns             string
	IP                netip.Addr
	MTU               int
}

// BuildResult is the ADD result for cniVersion: interfaces [host veth, pod
// ifname], the pod's /32 with 169.254.1.1 as gateway, and the two pod routes.
// Fields the version's spec does not have are left out (interface mtu, route
// scope: 1.1.0 only; 0.4.0 IPs carry "version").
func BuildResult(cniVersion string, a Attachment) (types.Result, error) {
	podIdx := 1
	r := &types100.Result{
		CNIVersion: types100.ImplementedSpecVersion,
		Interfaces: []*types100.Interface{
			{Name: a.HostVeth, Mac: a.HostMAC},
			{Name: a.IfName, Mac: a.PodMAC, Sandbox: a.Netns},
		},
		IPs: []*types100.IPConfig{{
			Interface: &podIdx,
			Address:   net.IPNet{IP: a.IP.AsSlice(), Mask: net.CIDRMask(32, 32)},
			Gateway:   datapath.GatewayIP.AsSlice(),
		}},
		Routes: []*types.Route{
			{Dst: net.IPNet{IP: datapath.GatewayIP.AsSlice(), Mask: net.CIDRMask(32, 32)}},
			{Dst: net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, GW: datapath.GatewayIP.AsSlice()},
		},
	}
	if cniVersion == "1.1.0" {
		scope := int(netlink.SCOPE_LINK)
		r.Routes[0].Scope = &scope
		r.Interfaces[1].Mtu = a.MTU
	}
	out, err := r.GetAsVersion(cniVersion)
	if err != nil {
		return nil, fmt.Errorf("aws-cni: result as version %s: %w", cniVersion, err)
	}
	return out, nil
}

// attachmentFromResult reads back what BuildResult wrote; missing pieces stay
// zero, so DEL can clean whatever a partial prevResult still names.
func attachmentFromResult(prev types.Result, ifName string) (Attachment, error) {
	var a Attachment
	if prev == nil {
		return a, nil
	}
	r, err := types100.GetResult(prev)
	if err != nil {
		return a, fmt.Errorf("prevResult: %w", err)
	}
	for i, intf := range r.Interfaces {
		if intf.Sandbox != "" && (ifName == "" || intf.Name == ifName) {
			a.IfName, a.PodMAC, a.Netns, a.MTU = intf.Name, intf.Mac, intf.Sandbox, intf.Mtu
			for _, ip := range r.IPs {
				if ip.Interface != nil && *ip.Interface == i {
					if addr, ok := netip.AddrFromSlice(ip.Address.IP.To4()); ok && ip.Address.IP.To4() != nil {
						a.IP = addr
					}
				}
			}
		} else if intf.Sandbox == "" && a.HostVeth == "" {
			a.HostVeth, a.HostMAC = intf.Name, intf.Mac
		}
	}
	if !a.IP.IsValid() { // interface index missing: take the first IPv4
		for _, ip := range r.IPs {
			if v4 := ip.Address.IP.To4(); v4 != nil {
				a.IP, _ = netip.AddrFromSlice(v4)
				break
			}
		}
	}
	return a, nil
}
