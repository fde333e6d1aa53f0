package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/internal/nsutil"
)

// A picture is what a CNI plugin left in a namespace or returned, as sorted
// lines in which everything that differs between two equal set-ups (the
// pod's address, random MACs, netns paths) is replaced by a name, so the
// pictures of two plugins compare with ==, and their difference reads as a
// diff.
type picture []string

// normaliser replaces the values of one pod that another pod has too, but
// with other values.
type normaliser struct{ pairs []string }

func (n normaliser) apply(s string) string { return strings.NewReplacer(n.pairs...).Replace(s) }

func podNormaliser(ip netip.Addr, netns string) normaliser {
	return normaliser{pairs: []string{netns, "<pod-netns>", ip.String(), "<pod-ip>"}}
}

// withMAC adds a link's MAC under a name.
func (n normaliser) withMAC(mac net.HardwareAddr, name string) normaliser {
	if len(mac) > 0 {
		n.pairs = append(n.pairs, mac.String(), name)
	}
	return n
}

// linkLine is a link's kind, name, MTU and state (not its index, MAC or
// peer's index, which differ between equal set-ups).
func linkLine(l netlink.Link) string {
	a := l.Attrs()
	return fmt.Sprintf("link %s type=%s mtu=%d up=%t txqlen=%d", a.Name, l.Type(), a.MTU, a.Flags&net.FlagUp != 0, a.TxQLen)
}

func routeLine(r netlink.Route, names map[int]string) string {
	dst := "default"
	if r.Dst != nil {
		dst = r.Dst.String()
	}
	return fmt.Sprintf("route table=%d dst=%s gw=%v src=%v dev=%s scope=%s proto=%d type=%d flags=%v",
		r.Table, dst, r.Gw, r.Src, names[r.LinkIndex], r.Scope, r.Protocol, r.Type, r.ListFlags())
}

func ruleLine(r netlink.Rule) string {
	return fmt.Sprintf("rule prio=%d from=%v to=%v table=%d mark=%d invert=%t iif=%s oif=%s", r.Priority, r.Src, r.Dst, r.Table, r.Mark, r.Invert, r.IifName, r.OifName)
}

func neighLine(n netlink.Neigh, names map[int]string) string {
	return fmt.Sprintf("neigh %v lladdr=%v dev=%s state=%#x flags=%#x", n.IP, n.HardwareAddr, names[n.LinkIndex], n.State, n.Flags)
}

// sysctls reads every file of the given /proc/sys/net directories from
// inside the namespace (/proc/sys/net shows the reading thread's
// namespace); a file the kernel refuses to read is left out.
func sysctls(nsPath string, dirs ...string) ([]string, error) {
	var out []string
	err := nsutil.Do(nsPath, func() error {
		for _, d := range dirs {
			entries, err := os.ReadDir(d)
			if errors.Is(err, os.ErrNotExist) {
				continue // the link went while the picture was taken
			}
			if err != nil {
				return err
			}
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join(d, e.Name()))
				if err != nil || e.IsDir() {
					continue
				}
				out = append(out, fmt.Sprintf("sysctl %s = %s", strings.TrimPrefix(filepath.Join(d, e.Name()), "/proc/sys/"), strings.TrimSpace(string(b))))
			}
		}
		return nil
	})
	return out, err
}

// podPicture is the pod namespace: links, addresses, routes of every table,
// neighbours, and the IPv4/IPv6 sysctls of eth0 and of all/default.
func podPicture(nsPath string, norm normaliser) (picture, error) {
	h, err := nsutil.Handle(nsPath)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := nsutil.Retry(h.LinkList)
	if err != nil {
		return nil, err
	}
	var lines []string
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
		lines = append(lines, linkLine(l))
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if a.IP.IsLinkLocalUnicast() && a.IP.To4() == nil {
				continue // an IPv6 link-local address comes from the random MAC
			}
			lines = append(lines, fmt.Sprintf("addr %s %s scope=%d", l.Attrs().Name, a.IPNet, a.Scope))
		}
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 0}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if r.Table == 255 { // local: the kernel's, from the addresses
			continue
		}
		lines = append(lines, routeLine(r, names))
	}
	neighs, err := h.NeighList(0, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	for _, n := range neighs {
		lines = append(lines, neighLine(n, names))
	}
	sc, err := sysctls(nsPath, "/proc/sys/net/ipv4/conf/eth0", "/proc/sys/net/ipv4/conf/all", "/proc/sys/net/ipv6/conf/all", "/proc/sys/net/ipv6/conf/eth0")
	if err != nil {
		return nil, err
	}
	return finish(append(lines, sc...), norm), nil
}

// nodePicture is what the node namespace holds for one pod: the host
// veth (link, addresses, neighbours, sysctls), and every route and rule
// naming the pod's address or the veth. After DEL it is empty.
func nodePicture(nsPath, veth string, ip netip.Addr, norm normaliser) (picture, error) {
	h, err := nsutil.Handle(nsPath)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := nsutil.Retry(h.LinkList)
	if err != nil {
		return nil, err
	}
	var lines []string
	names := map[int]string{}
	vethIdx := -1
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
		if l.Attrs().Name == veth {
			vethIdx = l.Attrs().Index
			lines = append(lines, linkLine(l))
		}
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 0}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if r.LinkIndex == vethIdx || (r.Dst != nil && r.Dst.IP.Equal(ip.AsSlice())) {
			lines = append(lines, routeLine(r, names))
		}
	}
	rules, err := h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if (r.Src != nil && r.Src.IP.Equal(ip.AsSlice())) || (r.Dst != nil && r.Dst.IP.Equal(ip.AsSlice())) {
			lines = append(lines, ruleLine(r))
		}
	}
	if vethIdx < 0 {
		return finish(lines, norm), nil
	}
	neighs, err := h.NeighList(vethIdx, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	for _, n := range neighs {
		lines = append(lines, neighLine(n, names))
	}
	sc, err := sysctls(nsPath, "/proc/sys/net/ipv4/conf/"+veth, "/proc/sys/net/ipv6/conf/"+veth)
	if err != nil {
		return nil, err
	}
	return finish(append(lines, sc...), norm), nil
}

// resultPicture is the meaning of a pod's cached CNI ADD result (libcni's
// cache, results/<network>-<container>-<ifname>): its interfaces with
// what their mac and sandbox fields carry, its addresses, routes and DNS.
func resultPicture(cacheDir, network, containerID string, norm normaliser) (picture, error) {
	b, err := os.ReadFile(filepath.Join(cacheDir, "results", network+"-"+containerID+"-eth0"))
	if err != nil {
		return nil, err
	}
	var cached struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(b, &cached); err != nil {
		return nil, fmt.Errorf("cached result: %w", err)
	}
	var r types100.Result
	if err := json.Unmarshal(cached.Result, &r); err != nil {
		return nil, fmt.Errorf("cached result: %w", err)
	}
	var lines []string
	for i, intf := range r.Interfaces {
		lines = append(lines, fmt.Sprintf("result interface[%d] name=%s mac=%s sandbox=%s mtu=%d", i, intf.Name, intf.Mac, intf.Sandbox, intf.Mtu))
	}
	for _, ip := range r.IPs {
		iface := -1
		if ip.Interface != nil {
			iface = *ip.Interface
		}
		lines = append(lines, fmt.Sprintf("result ip %s interface=%d gateway=%v", ip.Address.String(), iface, ip.Gateway))
	}
	for _, rt := range r.Routes {
		lines = append(lines, fmt.Sprintf("result route %s gw=%v", rt.Dst.String(), rt.GW))
	}
	lines = append(lines, fmt.Sprintf("result dns %v", r.DNS))
	return finish(lines, norm), nil
}

func finish(lines []string, norm normaliser) picture {
	for i, l := range lines {
		lines[i] = norm.apply(l)
	}
	slices.Sort(lines)
	return picture(lines)
}

// diff is a readable difference of two pictures: the lines only one of them
// has, each under the name of its side.
func diff(aName string, a picture, bName string, b picture) string {
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, fmt.Sprintf("  only %-8s %s", aName+":", l))
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			out = append(out, fmt.Sprintf("  only %-8s %s", bName+":", l))
		}
	}
	return strings.Join(out, "\n")
}

// routing is the picture's routes and rules only.
func (p picture) routing() picture {
	var out picture
	for _, l := range p {
		if strings.HasPrefix(l, "route ") || strings.HasPrefix(l, "rule ") {
			out = append(out, l)
		}
	}
	return out
}
