package node

import (
	"errors"
	"fmt"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/nsutil"
)

// linkMTU is the MTU of ENI links, as EC2 hands them out (jumbo frames).
const linkMTU = 9001

// fabric is the VPC namespace: the router every ENI's peer is plugged into.
type fabric struct {
	path string
	mu   sync.Mutex // serialises route changes across nodes
	h    *netlink.Handle
	ipv6 bool // the VPC routes IPv6 too (fabric_ipv6.go)
	// noCheckV6 are the peers whose ENI has SourceDestCheck off, builtV6
	// whether the IPv6 source check table exists (srccheck_ipv6.go).
	noCheckV6 map[string]bool
	builtV6   bool
	// peers are the VPC-side peers of ENI links by ENI id, for the VLAN
	// sub-interfaces of branch ENIs on a trunk (fabric_branch.go).
	peers map[string]string
	// bg is the probe's background delete (probeVeth).
	bg sync.WaitGroup
}

func newFabric(path string) (*fabric, error) {
	h, err := nsutil.Handle(path)
	if err != nil {
		return nil, fmt.Errorf("node: VPC namespace handle: %w", err)
	}
	return &fabric{path: path, h: h}, nil
}

func (f *fabric) close() {
	f.bg.Wait()
	if f.h != nil {
		f.h.Close()
	}
}

// setup brings lo up with every subnet gateway on it and turns the
// namespace into a router with EC2's source/destination check.
func (f *fabric) setup(gateways []netip.Addr) error {
	lo, err := f.h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("node: VPC lo: %w", err)
	}
	if err := f.h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("node: VPC lo up: %w", err)
	}
	for _, gw := range gateways {
		a := &netlink.Addr{IPNet: kernel.HostNet(gw)}
		if err := f.h.AddrAdd(lo, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("node: VPC gateway %s: %w", gw, err)
		}
	}
	err = nsutil.Do(f.path, func() error {
		return writeSysctls(map[string]string{
			"net/ipv4/ip_forward": "1",
			// rp_filter is EC2's source check, set per ENI peer (default
			// on, off where SourceDestCheck is false); all=0 lets a peer's
			// own value rule, as the kernel takes the larger of the two.
			"net/ipv4/conf/all/rp_filter":          "0",
			"net/ipv4/conf/default/rp_filter":      "1",
			"net/ipv4/conf/all/send_redirects":     "0",
			"net/ipv4/conf/default/send_redirects": "0",
			"net/ipv4/conf/all/arp_ignore":         "0",
			"net/ipv4/conf/default/arp_ignore":     "0",
			"net/ipv4/conf/all/accept_local":       "0",
		})
	})
	if err != nil {
		return fmt.Errorf("node: VPC namespace: %w", err)
	}
	return nil
}

// writeSysctls must run inside the target namespace: /proc/sys/net follows
// the calling thread's namespace.
func writeSysctls(kv map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(kv[k]), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, kv[k], err)
		}
	}
	return nil
}

func (f *fabric) probeDummy() error {
	l := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "probe-dummy"}}
	if err := f.h.LinkAdd(l); err != nil {
		return err
	}
	return f.h.LinkDel(l)
}

// probeVeth creates a veth pair in the VPC namespace and deletes it in the
// background: the kernel's teardown of a veth waits for an RCU grace period
// (15–25 ms here), which the lab's start need not wait for. close waits for
// it; a pair the delete missed goes with the namespace.
func (f *fabric) probeVeth() error {
	l := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "probe-veth0"}, PeerName: "probe-veth1"}
	if err := f.h.LinkAdd(l); err != nil {
		return err
	}
	f.bg.Add(1)
	go func() {
		defer f.bg.Done()
		// A handle of its own: f.h serves the lab meanwhile.
		h, err := nsutil.Handle(f.path)
		if err != nil {
			return
		}
		defer h.Close()
		_ = h.LinkDel(l)
	}()
	return nil
}

// addENILink creates the node-side link eth<device> with the ENI's MAC in
// the node namespace; with veth its peer (peerName) stays in the VPC
// namespace, up, with rp_filter=1 and the next-hop neighbour → ENI MAC.
// Its errors name the link, not the node: the caller adds that.
// Nothing ever appears in the root namespace: the pair is created inside
// the VPC namespace with the node end placed directly in the node's.
func (f *fabric) addENILink(backend string, node *netlink.Handle, nodeNS netns.NsHandle, name, peerName string, mac net.HardwareAddr) error {
	if backend == BackendDummy {
		l := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mac, MTU: linkMTU}}
		if err := node.LinkAdd(l); err != nil {
			return fmt.Errorf("add dummy %s: %w", name, err)
		}
		return nil
	}
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: peerName, MTU: linkMTU},
		PeerName:         name,
		PeerHardwareAddr: mac,
		PeerNamespace:    netlink.NsFd(int(nodeNS)),
		PeerMTU:          linkMTU,
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.h.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s/%s: %w", peerName, name, err)
	}
	peer, err := f.h.LinkByName(peerName)
	if err != nil {
		return fmt.Errorf("find peer %s: %w", peerName, err)
	}
	if err := nsutil.Do(f.path, func() error {
		return writeSysctls(map[string]string{
			"net/ipv4/conf/" + peerName + "/rp_filter":      "1",
			"net/ipv4/conf/" + peerName + "/send_redirects": "0",
			// A node ARPs for other addresses of its subnet directly (the
			// kernel's subnet route on eth0); EC2 answers those, so does
			// the VPC namespace, for every address routed elsewhere.
			"net/ipv4/conf/" + peerName + "/proxy_arp":    "1",
			"net/ipv4/neigh/" + peerName + "/proxy_delay": "0",
		})
	}); err != nil {
		return err
	}
	if err := f.h.LinkSetUp(peer); err != nil {
		return fmt.Errorf("peer %s up: %w", peerName, err)
	}
	nh := net.ParseIP(FabricNextHop)
	if err := f.h.NeighSet(&netlink.Neigh{LinkIndex: peer.Attrs().Index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT, IP: nh, HardwareAddr: mac}); err != nil {
		return fmt.Errorf("next-hop neighbour on %s: %w", peerName, err)
	}
	if f.ipv6 {
		return f.plugIPv6Peer(peer, mac)
	}
	return nil
}

// removePeer deletes a veth pair through its VPC end (the node end goes
// with it). A missing peer is not an error.
func (f *fabric) removePeer(peerName string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.h.LinkByName(peerName)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("node: find peer %s: %w", peerName, err)
	}
	if err := f.h.LinkDel(l); err != nil {
		return fmt.Errorf("node: delete peer %s: %w", peerName, err)
	}
	return nil
}

// eniRoutes is what EC2 delivers to an ENI: its addresses and prefixes.
func eniRoutes(e fakeec2.ENI) map[netip.Prefix]bool {
	want := map[netip.Prefix]bool{}
	if e.PrimaryIP.IsValid() {
		want[netip.PrefixFrom(e.PrimaryIP, 32)] = true
	}
	for _, a := range e.SecondaryIPs {
		want[netip.PrefixFrom(a, 32)] = true
	}
	for _, p := range e.Prefixes {
		want[p.Masked()] = true
	}
	return want
}

// syncRoutes makes the routes through peerName exactly the ENI's current
// addresses. It reads the state under the fabric lock, so syncs of two ENIs
// an address moved between can never apply stale views in the wrong order.
func (f *fabric) syncRoutes(peerName string, current func() (fakeec2.ENI, bool)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := current()
	if !ok {
		e = fakeec2.ENI{}
	}
	peer, err := f.h.LinkByName(peerName)
	if err != nil {
		return fmt.Errorf("node: find peer %s: %w", peerName, err)
	}
	idx := peer.Attrs().Index
	have, err := nsutil.Retry(func() ([]netlink.Route, error) {
		return f.h.RouteListFiltered(unix.AF_INET, &netlink.Route{LinkIndex: idx, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return fmt.Errorf("node: routes on %s: %w", peerName, err)
	}
	if ok {
		if err := f.setSourceCheck(peerName, e.SourceDestCheck); err != nil {
			return err
		}
		if f.ipv6 {
			if err := f.setSourceCheckV6(peerName, e.SourceDestCheck); err != nil {
				return err
			}
		}
	}
	want := eniRoutes(e)
	var errs []error
	for _, r := range have {
		if r.Dst == nil {
			continue
		}
		p, ok := netipPrefix(r.Dst)
		if ok && want[p] {
			delete(want, p)
			continue
		}
		if err := f.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("node: delete route %s on %s: %w", r.Dst, peerName, err))
		}
	}
	nh := net.ParseIP(FabricNextHop)
	for p := range want {
		r := &netlink.Route{
			LinkIndex: idx,
			Dst:       kernel.PrefixNet(p),
			Gw:        nh,
			Flags:     int(netlink.FLAG_ONLINK),
			Table:     unix.RT_TABLE_MAIN,
		}
		if err := f.h.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("node: route %s via %s: %w", p, peerName, err))
		}
	}
	if f.ipv6 {
		errs = append(errs, f.syncRoutesV6(peerName, idx, e))
	}
	return errors.Join(errs...)
}

func netipPrefix(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones).Masked(), true
}

// setSourceCheck turns EC2's source/destination check on a peer on or off:
// off, the VPC accepts packets from the ENI whatever their source (a NAT
// instance forwarding for others). Destinations stay routed per address.
func (f *fabric) setSourceCheck(peerName string, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	err := nsutil.Do(f.path, func() error {
		return writeSysctls(map[string]string{"net/ipv4/conf/" + peerName + "/rp_filter": v})
	})
	if err != nil {
		return fmt.Errorf("node: source/destination check on %s: %w", peerName, err)
	}
	return nil
}
