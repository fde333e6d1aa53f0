package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2api "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
)

// A VPC host is a machine in the VPC that is not a node (a database): an
// ENI of its own with its security groups, plugged into the VPC namespace
// like a NAT gateway's, in a namespace PREFIX-host-NAME, with one TCP port
// open that accepts and closes connections.

type vpcHost struct {
	name  string
	o     *outsideNS
	ln    net.Listener
	addr  netip.Addr
	port  int
	eniID string
}

type vpcHosts struct {
	mu    sync.Mutex
	hosts map[string]*vpcHost
}

// AddVPCHost creates the host name in subnetID with groups (ids) and the
// TCP port open, and returns its address.
func (l *Lab) AddVPCHost(ctx context.Context, name, subnetID string, groups []string, port int) (netip.Addr, error) {
	if !nameRE.MatchString(name) || port <= 0 || port > 65535 {
		return netip.Addr{}, fmt.Errorf("node: VPC host %q port %d: want a lower-case name and a port 1-65535", name, port)
	}
	if l.backend == BackendDummy {
		return netip.Addr{}, fmt.Errorf("node: VPC host %s: the dummy ENI backend carries no traffic", name)
	}
	l.hosts.mu.Lock()
	defer l.hosts.mu.Unlock()
	if _, dup := l.hosts.hosts[name]; dup {
		return netip.Addr{}, fmt.Errorf("node: VPC host %s exists", name)
	}
	out, err := l.resourceController().api.CreateNetworkInterface(ctx, &ec2api.CreateNetworkInterfaceInput{
		SubnetId: aws.String(subnetID), Groups: groups, Description: aws.String("enilab host " + name),
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("node: VPC host %s: %w", name, apiError(err))
	}
	eni, _ := l.ec2.ENI(aws.ToString(out.NetworkInterface.NetworkInterfaceId))
	h := &vpcHost{name: name, addr: eni.PrimaryIP, port: port, eniID: eni.ID}
	if l.hosts.hosts == nil {
		l.hosts.hosts = map[string]*vpcHost{}
	}
	l.hosts.hosts[name] = h
	if err := l.plugHost(h, eni); err != nil {
		return netip.Addr{}, fmt.Errorf("node: VPC host %s: %w", name, err)
	}
	return h.addr, l.syncSecurityGroups()
}

func (l *Lab) plugHost(h *vpcHost, eni fakeec2.ENI) error {
	var err error
	h.o, err = newOutsideNS(l.cfg.Prefix + "-host-" + h.name)
	if err != nil {
		return err
	}
	mac, err := net.ParseMAC(eni.MAC)
	if err != nil {
		return fmt.Errorf("MAC %q: %w", eni.MAC, err)
	}
	peer := "h-" + h.name
	if len(peer) > 15 {
		peer = peer[:15]
	}
	if err := l.fabric.addENILink(BackendVeth, h.o.h, h.o.fd, "eth0", peer, mac); err != nil {
		return err
	}
	if err := l.fabric.syncRoutes(peer, func() (fakeec2.ENI, bool) { return eni, true }); err != nil {
		return err
	}
	link, err := h.o.h.LinkByName("eth0")
	if err != nil {
		return err
	}
	if err := h.o.h.AddrAdd(link, &netlink.Addr{IPNet: kernel.PrefixNet(netip.PrefixFrom(h.addr, eni.SubnetCIDR.Bits()))}); err != nil {
		return fmt.Errorf("address %s: %w", h.addr, err)
	}
	if err := h.o.h.LinkSetUp(link); err != nil {
		return err
	}
	gw := net.IP(eni.SubnetCIDR.Addr().Next().AsSlice())
	if err := h.o.h.RouteReplace(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw}); err != nil {
		return fmt.Errorf("default route: %w", err)
	}
	err = nsutil.Do(h.o.path, func() error {
		var err error
		h.ln, err = net.Listen("tcp4", netip.AddrPortFrom(h.addr, uint16(h.port)).String())
		return err
	})
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	go func() {
		for {
			c, err := h.ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return nil
}

// Reach opens a TCP connection from a pod or node to a VPC host's port;
// an error wrapping ErrNoReply when nothing answers (a security group
// dropped it).
func (l *Lab) Reach(ctx context.Context, from, host string) error {
	l.hosts.mu.Lock()
	h, ok := l.hosts.hosts[host]
	l.hosts.mu.Unlock()
	if !ok {
		return fmt.Errorf("node: no VPC host %q", host)
	}
	nsPath, err := l.sourceNS(from, "reach a VPC host")
	if err != nil {
		return fmt.Errorf("node: reach %s → %s: %w", from, host, err)
	}
	ctx, cancel := context.WithTimeout(ctx, CurlTimeout)
	defer cancel()
	c, err := nsutil.DialContext(ctx, nsPath, "tcp4", net.JoinHostPort(h.addr.String(), strconv.Itoa(h.port)))
	if err != nil {
		return fmt.Errorf("node: reach %s → %s (%s:%d): %w", from, host, h.addr, h.port, noAnswer(err))
	}
	return c.Close()
}

// closeHosts stops the hosts' listeners and removes their namespaces.
func (l *Lab) closeHosts() error {
	l.hosts.mu.Lock()
	defer l.hosts.mu.Unlock()
	var errs []error
	for _, h := range l.hosts.hosts {
		if h.ln != nil {
			_ = h.ln.Close()
		}
		errs = append(errs, h.o.close())
	}
	l.hosts.hosts = nil
	return errors.Join(errs...)
}
