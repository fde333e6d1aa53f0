package cniplugin

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/enilab/enilab/internal/datapath"
)

// Attachment is what ADD wired, in the shape every later command needs.
type Attachment struct {
	HostVeth, HostMAC string
	IfName, PodMAC    string
	Netns             string
	IP                netip.Addr
	MTU               int
	// Table is the pod's route table (main for the primary ENI); 0 when a
	// prevResult did not say.
	Table        int
	DeviceNumber int
	// Dummy is the name of upstream's dummy interface for this pod.
	Dummy string
	// VLAN is a branch ENI pod's VLAN id, 0 for any other pod; the
	// dummy interface's mac carries it (upstream cni.go add).
	VLAN int
}

// BuildResult is the ADD result for cniVersion in upstream's layout (cni.go
// add): interfaces [host veth, pod interface whose mac carries the route
// table id, dummy interface with mac "0" and the device number as sandbox],
// the pod's /32 on interface 1 with no gateway, and no routes.
func BuildResult(cniVersion string, a Attachment) (types.Result, error) {
	podIdx := 1
	r := &types100.Result{
		CNIVersion: types100.ImplementedSpecVersion,
		Interfaces: []*types100.Interface{
			{Name: a.HostVeth},
			{Name: a.IfName, Sandbox: a.Netns, Mac: strconv.Itoa(a.Table)},
			dummyInterface(a),
		},
		IPs: []*types100.IPConfig{{
			Interface: &podIdx,
			Address:   net.IPNet{IP: a.IP.AsSlice(), Mask: net.CIDRMask(hostPrefixLen(a.IP), hostPrefixLen(a.IP))},
		}},
	}
	out, err := r.GetAsVersion(cniVersion)
	if err != nil {
		return nil, fmt.Errorf("aws-cni: result as version %s: %w", cniVersion, err)
	}
	return out, nil
}

// dummyInterface is upstream's dummy entry: mac "0" and the device
// number as sandbox, or, for a branch ENI pod, the VLAN id as mac.
func dummyInterface(a Attachment) *types100.Interface {
	if a.VLAN != 0 {
		return &types100.Interface{Name: a.Dummy, Mac: strconv.Itoa(a.VLAN)}
	}
	return &types100.Interface{Name: a.Dummy, Mac: "0", Sandbox: strconv.Itoa(a.DeviceNumber)}
}

// attachmentFromResult reads back a prevResult made by BuildResult or by
// upstream's plugin: the pod interface is the one named ifName (else the
// first with a netns path as sandbox), the host veth the interface before
// it, the table the pod interface's mac or, failing that, the dummy
// interface's device number (upstream teardownPodNetworkWithPrevResult).
// Missing pieces stay zero, so DEL can clean whatever a partial prevResult
// still names.
func attachmentFromResult(prev types.Result, ifName string) (Attachment, error) {
	var a Attachment
	if prev == nil {
		return a, nil
	}
	r, err := types100.GetResult(prev)
	if err != nil {
		return a, fmt.Errorf("prevResult: %w", err)
	}
	pod := podInterface(r.Interfaces, ifName)
	dev := -1
	for i, intf := range r.Interfaces {
		switch {
		case i == pod:
		case strings.HasPrefix(intf.Name, datapath.DummyPrefix) && intf.Sandbox == "" && i != 0:
			if v, err := strconv.Atoi(intf.Mac); err == nil && v > 0 {
				a.Dummy, a.VLAN = intf.Name, v
			}
		case strings.HasPrefix(intf.Name, datapath.DummyPrefix) && intf.Sandbox != "" && !strings.Contains(intf.Sandbox, "/"):
			a.Dummy = intf.Name
			if d, err := strconv.Atoi(intf.Sandbox); err == nil && d >= 0 {
				dev = d
			}
		case intf.Sandbox == "" && (a.HostVeth == "" || i == pod-1):
			a.HostVeth, a.HostMAC = intf.Name, macOrEmpty(intf.Mac)
		}
	}
	if pod >= 0 {
		intf := r.Interfaces[pod]
		a.IfName, a.Netns, a.MTU, a.PodMAC = intf.Name, intf.Sandbox, intf.Mtu, macOrEmpty(intf.Mac)
		if t, err := strconv.Atoi(intf.Mac); err == nil {
			a.Table = tableOf(t)
		}
	}
	if dev >= 0 {
		a.DeviceNumber = dev
		if a.Table == 0 {
			a.Table = datapath.ENITable(dev)
		}
	}
	a.IP = podIPv4(r.IPs, pod)
	return a, nil
}

// podInterface is the index of the pod's interface, -1 if none.
func podInterface(ifs []*types100.Interface, ifName string) int {
	first := -1
	for i, intf := range ifs {
		if ifName != "" && intf.Name == ifName && intf.Sandbox != "" {
			return i
		}
		if first < 0 && strings.Contains(intf.Sandbox, "/") {
			first = i
		}
	}
	return first
}

// podIPv4 is the address on interface pod, else the first one (IPv4, or
// IPv6 in IPv6 mode).
func podIPv4(ips []*types100.IPConfig, pod int) netip.Addr {
	var first netip.Addr
	for _, ip := range ips {
		v4 := ip.Address.IP.To4()
		if v4 == nil {
			v4 = ip.Address.IP.To16() // an IPv6 pod (IPv6 mode)
		}
		if v4 == nil {
			continue
		}
		addr, _ := netip.AddrFromSlice(v4)
		if ip.Interface != nil && *ip.Interface == pod {
			return addr
		}
		if !first.IsValid() {
			first = addr
		}
	}
	return first
}

// tableOf is the table upstream routes a pod through for a route table id
// (SetupPodNetwork: main unless the id is above 1).
func tableOf(id int) int {
	if id > 1 {
		return id
	}
	return datapath.MainTable
}

// macOrEmpty is s when it is a MAC address (results of older enilab
// versions), "" for upstream's route table id in that field.
func macOrEmpty(s string) string {
	if _, err := net.ParseMAC(s); err != nil {
		return ""
	}
	return s
}
