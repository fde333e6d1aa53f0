package node

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/internal/nsutil"
)

// createIPv6Blocks gives the VPC an Amazon-provided /56 and each subnet,
// in the order the scenario lists them, the /64 numbered 1, 2, … of it
// (as an EKS IPv6 cluster's VPC template does).
func (l *Lab) createIPv6Blocks(vpcID string) error {
	p56, err := l.ec2.AssociateVPCIPv6(vpcID)
	if err != nil {
		return fmt.Errorf("node: IPv6 block of the VPC: %w", err)
	}
	for i, s := range l.cfg.Subnets {
		b := p56.Addr().As16()
		b[7] = byte(i + 1)
		p64 := netip.PrefixFrom(netip.AddrFrom16(b), 64)
		if err := l.ec2.AssociateSubnetIPv6(s.ID, p64); err != nil {
			return fmt.Errorf("node: IPv6 block %s of subnet %s: %w", p64, s.ID, err)
		}
	}
	return nil
}

// setupIPv6 turns IPv6 forwarding on in the node namespace (what the
// aws-vpc-cni init container does when ENABLE_IPv6 is set) and routes the
// node's IPv6 traffic to the VPC router through eth0 (on EC2, learnt from
// router advertisements with accept_ra=2).
func (n *Node) setupIPv6(eth0 netlink.Link) error {
	err := nsutil.Do(n.nsPath, func() error {
		return writeSysctls(map[string]string{
			"net/ipv6/conf/all/disable_ipv6": "0",
			"net/ipv6/conf/all/forwarding":   "1",
		})
	})
	if err != nil {
		return fmt.Errorf("node: %s: IPv6: %w", n.name, err)
	}
	def := &netlink.Route{LinkIndex: eth0.Attrs().Index, Dst: &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
		Gw: net.ParseIP(VPCRouterV6)}
	if err := n.h.RouteReplace(def); err != nil {
		return fmt.Errorf("node: %s: IPv6 default via %s: %w", n.name, VPCRouterV6, err)
	}
	return nil
}

// icmpNetwork is the raw socket PingFrom opens for dst's family.
func icmpNetwork(dst netip.Addr) (network, addr string) {
	if dst.Is6() && !dst.Is4In6() {
		return "ip6:ipv6-icmp", "::"
	}
	return "ip4:icmp", "0.0.0.0"
}

// echoRequestFor is an ICMP echo request, or an ICMPv6 one (type 128, its
// checksum filled in by the kernel) for an IPv6 dst.
func echoRequestFor(dst netip.Addr, id, seq uint16) []byte {
	b := echoRequest(id, seq)
	if dst.Is6() && !dst.Is4In6() {
		b[0], b[2], b[3] = 128, 0, 0
	}
	return b
}

// isEchoReplyFor checks for an echo reply (ICMPv6 type 129 for IPv6).
func isEchoReplyFor(dst netip.Addr, b []byte, id uint16) bool {
	if dst.Is6() && !dst.Is4In6() {
		return len(b) >= 8 && b[0] == 129 && b[1] == 0 && binary.BigEndian.Uint16(b[4:]) == id
	}
	return isEchoReply(b, id)
}
