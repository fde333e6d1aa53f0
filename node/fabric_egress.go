package node

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
)

// The fabric's outside: the VPC namespace routes each subnet by its route
// table in fakeec2 to the internet gateway namespace (EC2's 1:1 NAT of
// public addresses, nothing else passes) or to a NAT gateway namespace (the
// NAT gateway's ENI in its subnet, translating to its own address); past the
// internet gateway is the internet namespace with the test host. Every
// rule, route and translation lives in these namespaces; the root namespace
// is never touched.
//
//	node ─ VPC ns ─ igw (169.254.200.1/30) ═ vpc (.2) IGW ns inet (169.254.201.1/30) ═ igw (.2) internet ns
//	          └─ natN ═ eth0 (NAT gateway ns, the NAT gateway's private address)

// Transit links of the outside (link-local, like FabricNextHop).
var (
	vpcIGWAddr  = netip.MustParsePrefix("169.254.200.1/30") // VPC side
	igwVPCAddr  = netip.MustParsePrefix("169.254.200.2/30") // IGW side
	igwInetAddr = netip.MustParsePrefix("169.254.201.1/30") // IGW side
	inetIGWAddr = netip.MustParsePrefix("169.254.201.2/30") // internet side
)

// Route tables and rule priorities of the subnets' routing in the VPC
// namespace: subnet i (creation order) is looked up in table
// subnetTableBase+i, from its CIDR, after the main table (32766) missed.
const (
	subnetTableBase = 100
	subnetRuleBase  = 40000
)

// egress is the lab's outside; it exists when some subnet is public or
// NAT-gatewayed and the backend is veth.
type egress struct {
	l       *Lab
	igw     *outsideNS
	inet    *outsideNS
	natgws  []*outsideNS
	natPeer map[string]string // NAT gateway id → its peer in the VPC namespace
	echo    *echoServer
	mu      sync.Mutex // serialises resync
	applied map[netip.Addr]netip.Addr
}

// outsideNS is one namespace of the outside.
type outsideNS struct {
	name, path string
	h          *netlink.Handle
	fd         netns.NsHandle
}

func newOutsideNS(name string) (*outsideNS, error) {
	path, err := nsutil.NewNamed(name)
	if err != nil {
		return nil, fmt.Errorf("node: namespace %s: %w", name, err)
	}
	o := &outsideNS{name: name, path: path, fd: -1}
	if o.h, err = nsutil.Handle(path); err != nil {
		return o, fmt.Errorf("node: namespace %s: %w", name, err)
	}
	if o.fd, err = netns.GetFromPath(path); err != nil {
		return o, fmt.Errorf("node: namespace %s: %w", name, err)
	}
	lo, err := o.h.LinkByName("lo")
	if err == nil {
		err = o.h.LinkSetUp(lo)
	}
	if err != nil {
		return o, fmt.Errorf("node: namespace %s: lo: %w", name, err)
	}
	err = nsutil.Do(path, func() error {
		return writeSysctls(map[string]string{
			"net/ipv4/ip_forward":              "1",
			"net/ipv4/conf/all/rp_filter":      "0",
			"net/ipv4/conf/default/rp_filter":  "0",
			"net/ipv4/conf/all/send_redirects": "0",
		})
	})
	if err != nil {
		return o, fmt.Errorf("node: namespace %s: %w", name, err)
	}
	return o, nil
}

func (o *outsideNS) close() error {
	if o == nil {
		return nil
	}
	if o.h != nil {
		o.h.Close()
	}
	if o.fd >= 0 {
		_ = o.fd.Close()
	}
	return nsutil.DeleteNamed(o.name)
}

// startEgress builds the outside when the lab asks for one.
func (l *Lab) startEgress() (err error) {
	if !l.cfg.wantsInternet(false) || l.backend != BackendVeth {
		return nil
	}
	e := &egress{l: l, natPeer: map[string]string{}}
	l.egress = e
	if e.igw, err = newOutsideNS(l.cfg.Prefix + "-igw"); err != nil {
		return err
	}
	if e.inet, err = newOutsideNS(l.cfg.Prefix + "-inet"); err != nil {
		return err
	}
	if err := e.wireInternet(); err != nil {
		return err
	}
	for i, g := range l.ec2.NATGateways() {
		if err := e.addNATGateway(i, g); err != nil {
			return err
		}
	}
	if err := e.routeSubnets(); err != nil {
		return err
	}
	if e.echo, err = startEcho(e.inet.path); err != nil {
		return err
	}
	e.resync()
	return nil
}

// pair creates a veth inside a's namespace with its peer placed in b's,
// both up with their addresses.
func pair(a *netlink.Handle, aName string, aAddr netip.Prefix, b *outsideNS, bName string, bAddr netip.Prefix) error {
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aName}, PeerName: bName, PeerNamespace: netlink.NsFd(int(b.fd))}
	if err := a.LinkAdd(v); err != nil {
		return fmt.Errorf("veth %s/%s: %w", aName, bName, err)
	}
	for _, side := range []struct {
		h    *netlink.Handle
		name string
		addr netip.Prefix
	}{{a, aName, aAddr}, {b.h, bName, bAddr}} {
		l, err := side.h.LinkByName(side.name)
		if err != nil {
			return fmt.Errorf("find %s: %w", side.name, err)
		}
		if err := side.h.AddrAdd(l, &netlink.Addr{IPNet: kernel.PrefixNet(side.addr)}); err != nil {
			return fmt.Errorf("address %s on %s: %w", side.addr, side.name, err)
		}
		if err := side.h.LinkSetUp(l); err != nil {
			return fmt.Errorf("%s up: %w", side.name, err)
		}
	}
	return nil
}

// wireInternet links VPC ↔ IGW ↔ internet, puts the test host on the
// internet's lo and routes the VPC's blocks and the public pool.
func (e *egress) wireInternet() error {
	f := e.l.fabric
	if err := pair(f.h, "igw", vpcIGWAddr, e.igw, "vpc", igwVPCAddr); err != nil {
		return fmt.Errorf("node: VPC to internet gateway: %w", err)
	}
	if err := pair(e.igw.h, "inet", igwInetAddr, e.inet, "igw", inetIGWAddr); err != nil {
		return fmt.Errorf("node: internet gateway to internet: %w", err)
	}
	lo, err := e.inet.h.LinkByName("lo")
	if err == nil {
		err = e.inet.h.AddrAdd(lo, &netlink.Addr{IPNet: kernel.HostNet(InternetHost)})
	}
	if err != nil {
		return fmt.Errorf("node: internet host %s: %w", InternetHost, err)
	}
	var routes []*netlink.Route
	vpc, _ := e.l.ec2.VPC(e.l.ec2.Subnets()[0].VPCID)
	for _, c := range vpc.CIDRs {
		routes = append(routes, &netlink.Route{Dst: kernel.PrefixNet(c), Gw: net.IP(vpcIGWAddr.Addr().AsSlice())})
	}
	routes = append(routes, &netlink.Route{Dst: kernel.PrefixNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: net.IP(inetIGWAddr.Addr().AsSlice())})
	for _, r := range routes {
		if err := e.igw.h.RouteReplace(r); err != nil {
			return fmt.Errorf("node: internet gateway route %s: %w", r.Dst, err)
		}
	}
	back := &netlink.Route{Dst: kernel.PrefixNet(fakeec2.PublicPool), Gw: net.IP(igwInetAddr.Addr().AsSlice())}
	if err := e.inet.h.RouteReplace(back); err != nil {
		return fmt.Errorf("node: internet route to %s: %w", fakeec2.PublicPool, err)
	}
	// The VPC's edge: replies from the internet come back on the
	// internet gateway link whatever their source.
	if err := nsutil.Do(f.path, func() error {
		return writeSysctls(map[string]string{"net/ipv4/conf/igw/rp_filter": "0"})
	}); err != nil {
		return fmt.Errorf("node: VPC internet gateway link: %w", err)
	}
	return e.igwTable(nil)
}

// addNATGateway builds the i-th NAT gateway's namespace: its ENI's link
// plugged into the VPC like a node's (peer nat<i>), its address and default
// route in its subnet, and the translation to its own address.
func (e *egress) addNATGateway(i int, g fakeec2.NATGateway) error {
	o, err := newOutsideNS(e.l.cfg.Prefix + "-natgw-" + strconv.Itoa(i+1))
	e.natgws = append(e.natgws, o)
	if err != nil {
		return err
	}
	eni, ok := e.l.ec2.ENI(g.ENIID)
	if !ok {
		return fmt.Errorf("node: NAT gateway %s: no ENI %s", g.ID, g.ENIID)
	}
	mac, err := net.ParseMAC(eni.MAC)
	if err != nil {
		return fmt.Errorf("node: NAT gateway %s: MAC %q: %w", g.ID, eni.MAC, err)
	}
	peer := "nat" + strconv.Itoa(i+1)
	f := e.l.fabric
	if err := f.addENILink(BackendVeth, o.h, o.fd, "eth0", peer, mac); err != nil {
		return fmt.Errorf("node: NAT gateway %s: %w", g.ID, err)
	}
	// A NAT gateway forwards for others: no source check on its peer.
	eni.SourceDestCheck = false
	if err := f.syncRoutes(peer, func() (fakeec2.ENI, bool) { return eni, true }); err != nil {
		return err
	}
	link, err := o.h.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("node: NAT gateway %s: %w", g.ID, err)
	}
	addr := netip.PrefixFrom(g.PrivateIP, eni.SubnetCIDR.Bits())
	if err := o.h.AddrAdd(link, &netlink.Addr{IPNet: kernel.PrefixNet(addr)}); err != nil {
		return fmt.Errorf("node: NAT gateway %s address %s: %w", g.ID, addr, err)
	}
	if err := o.h.LinkSetUp(link); err != nil {
		return fmt.Errorf("node: NAT gateway %s: eth0 up: %w", g.ID, err)
	}
	gw := net.IP(eni.SubnetCIDR.Addr().Next().AsSlice())
	if err := o.h.RouteReplace(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw}); err != nil {
		return fmt.Errorf("node: NAT gateway %s default route: %w", g.ID, err)
	}
	e.natPeer[g.ID] = peer
	return natTable(o, g.PrivateIP)
}

// routeSubnets gives each subnet its table in the VPC namespace, from its
// route table in fakeec2: 0.0.0.0/0 to the internet gateway or a NAT
// gateway, or dropped (no route out, as on AWS: the packet times out);
// the VPC's own blocks dropped when no ENI holds the address.
func (e *egress) routeSubnets() error {
	f := e.l.fabric
	for i, sn := range e.l.ec2.Subnets() {
		table := subnetTableBase + i
		routes, err := e.l.ec2.SubnetRoutes(sn.ID)
		if err != nil {
			return fmt.Errorf("node: routes of %s: %w", sn.ID, err)
		}
		hasDefault := false
		for _, r := range routes {
			nr, err := e.subnetRoute(r, table)
			if err != nil {
				return fmt.Errorf("node: route %s → %s of %s: %w", r.Dest, r.Target, sn.ID, err)
			}
			hasDefault = hasDefault || r.Dest.Bits() == 0
			if err := f.h.RouteReplace(nr); err != nil {
				return fmt.Errorf("node: route %s → %s of %s: %w", r.Dest, r.Target, sn.ID, err)
			}
		}
		if !hasDefault {
			drop := &netlink.Route{Dst: kernel.PrefixNet(netip.MustParsePrefix("0.0.0.0/0")), Type: unix.RTN_BLACKHOLE, Table: table}
			if err := f.h.RouteReplace(drop); err != nil {
				return fmt.Errorf("node: no way out of %s: %w", sn.ID, err)
			}
		}
		rule := netlink.NewRule()
		rule.Src, rule.Table, rule.Priority = kernel.PrefixNet(sn.CIDR), table, subnetRuleBase+i
		if err := f.h.RuleAdd(rule); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("node: rule from %s: %w", sn.CIDR, err)
		}
	}
	return nil
}

// subnetRoute turns one route of a subnet's route table into a route of
// its table in the VPC namespace.
func (e *egress) subnetRoute(r fakeec2.Route, table int) (*netlink.Route, error) {
	nr := &netlink.Route{Dst: kernel.PrefixNet(r.Dest), Table: table}
	switch {
	case r.Target == "local" || r.Blackhole:
		nr.Type = unix.RTN_BLACKHOLE
	case strings.HasPrefix(r.Target, "igw-"):
		l, err := e.l.fabric.h.LinkByName("igw")
		if err != nil {
			return nil, err
		}
		nr.LinkIndex, nr.Gw = l.Attrs().Index, net.IP(igwVPCAddr.Addr().AsSlice())
	default:
		peer, ok := e.natPeer[r.Target]
		if !ok {
			return nil, fmt.Errorf("no NAT gateway %s in the fabric", r.Target)
		}
		// As to an ENI: onlink through the next hop whose neighbour entry
		// is the NAT gateway ENI's MAC.
		l, err := e.l.fabric.h.LinkByName(peer)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex, nr.Gw, nr.Flags = l.Attrs().Index, net.ParseIP(FabricNextHop), int(netlink.FLAG_ONLINK)
	}
	return nr, nil
}

// resync brings the internet gateway's 1:1 NAT in line with fakeec2's
// public addresses (an instance launched in a public subnet adds one).
func (e *egress) resync() {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.l.ec2.PublicMappings()
	if sameMappings(m, e.applied) {
		return
	}
	if err := e.igwTable(m); err != nil {
		e.l.log.Warn("internet gateway NAT not updated", "err", err)
		return
	}
	e.applied = m
}

func sameMappings(a, b map[netip.Addr]netip.Addr) bool {
	if len(a) != len(b) || b == nil {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func (e *egress) stopEcho() {
	if e.echo != nil {
		e.echo.close()
	}
}

// close deletes the outside's namespaces; their links, routes, nft tables
// and conntrack entries go with them.
func (e *egress) close() error {
	errs := []error{e.igw.close(), e.inet.close()}
	for _, o := range e.natgws {
		errs = append(errs, o.close())
	}
	return errors.Join(errs...)
}
