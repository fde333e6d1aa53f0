package node

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
)

// ipv6FabricLab is fabricLab with vpc.ipv6: a /56 and subnet-a's /64.
func ipv6FabricLab(t *testing.T) *Lab {
	t.Helper()
	return testLab(t, "v6", LabConfig{
		Seed: 7, TimeScale: 0.01, VPC: VPCSpec{IPv6: true},
		Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"}},
		Backend: BackendVeth, noIPAMD: true,
	})
}

// TestVPCIPv6RoutesAndSourceCheck sends IPv6 packets between two nodes
// through the VPC namespace: an address EC2 assigned to node-2's ENI is
// routed to it, and node-1 reaches it from its own; a packet from node-1
// carrying node-2's address as source never arrives (EC2's source check),
// unless node-1's ENI has SourceDestCheck=false.
func TestVPCIPv6RoutesAndSourceCheck(t *testing.T) {
	l := ipv6FabricLab(t)
	ctx := context.Background()
	n1, err := l.AddNode(ctx, Spec{Name: "node-1", InstanceType: "m5.large"})
	require.NoError(t, err)
	n2, err := l.AddNode(ctx, Spec{Name: "node-2", InstanceType: "m5.large"})
	require.NoError(t, err)
	i1, _ := l.EC2().Instance(n1.InstanceID())
	i2, _ := l.EC2().Instance(n2.InstanceID())
	sub, ok := l.EC2().Subnet("subnet-a")
	require.True(t, ok)
	require.Equal(t, 64, sub.IPv6CIDR.Bits(), "subnet-a has a /64")

	a1, a2, spoof := v6In(sub.IPv6CIDR, 0x101), v6In(sub.IPv6CIDR, 0x202), v6In(sub.IPv6CIDR, 0x203)
	ec2(t, l, map[string]string{"Action": "AssignIpv6Addresses", "NetworkInterfaceId": i1.ENIs[0].ID, "Ipv6Addresses.1": a1.String()})
	ec2(t, l, map[string]string{"Action": "AssignIpv6Addresses", "NetworkInterfaceId": i2.ENIs[0].ID,
		"Ipv6Addresses.1": a2.String(), "Ipv6Addresses.2": spoof.String()})
	addLocalV6(t, n1.NetNS(), a1)
	addLocalV6(t, n1.NetNS(), spoof)
	addLocalV6(t, n2.NetNS(), a2)
	require.Eventually(t, func() bool { return echoArrives(t, n1.NetNS(), n2.NetNS(), a1, a2) }, 10*time.Second, 50*time.Millisecond,
		"node-1 → node-2 over IPv6 through the VPC")
	// The way back needs the VPC to resolve node-1's address first (a
	// neighbour solicitation), which a loaded machine may not finish
	// within one echo's 300 ms.
	require.Eventually(t, func() bool { return echoArrives(t, n2.NetNS(), n1.NetNS(), a2, a1) }, 10*time.Second, 50*time.Millisecond,
		"node-2 → node-1")

	assert.False(t, echoArrives(t, n1.NetNS(), n2.NetNS(), spoof, a2), "the VPC drops a source EC2 assigned to another ENI")
	ec2(t, l, map[string]string{"Action": "ModifyNetworkInterfaceAttribute", "NetworkInterfaceId": i1.ENIs[0].ID, "SourceDestCheck.Value": "false"})
	require.Eventually(t, func() bool { return echoArrives(t, n1.NetNS(), n2.NetNS(), spoof, a2) }, 5*time.Second, 50*time.Millisecond,
		"SourceDestCheck=false lifts the check on node-1's ENI")
	ec2(t, l, map[string]string{"Action": "ModifyNetworkInterfaceAttribute", "NetworkInterfaceId": i1.ENIs[0].ID, "SourceDestCheck.Value": "true"})
	require.Eventually(t, func() bool { return !echoArrives(t, n1.NetNS(), n2.NetNS(), spoof, a2) }, 5*time.Second, 50*time.Millisecond,
		"true restores it")
}

// v6In is the address of p with host part n.
func v6In(p interface{ Addr() netip.Addr }, n uint16) netip.Addr {
	b := p.Addr().As16()
	b[14], b[15] = byte(n>>8), byte(n)
	return netip.AddrFrom16(b)
}

// echoArrives sends one ICMPv6 echo request from src (in fromNS) to dst
// and reports whether it reaches toNS within 300 ms.
func echoArrives(t *testing.T, fromNS, toNS string, src, dst netip.Addr) bool {
	t.Helper()
	listen := rawICMPv6(t, toNS)
	defer unix.Close(listen)
	send := rawICMPv6(t, fromNS)
	defer unix.Close(send)
	if err := unix.Bind(send, &unix.SockaddrInet6{Addr: src.As16()}); err != nil {
		return false // not yet usable
	}
	id := byte(time.Now().UnixNano())
	require.NoError(t, unix.Sendto(send, []byte{128, 0, 0, 0, 0x5e, id, 0, 1}, 0, &unix.SockaddrInet6{Addr: dst.As16()}))
	buf := make([]byte, 1500)
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		n, from, err := unix.Recvfrom(listen, buf, 0)
		if err != nil {
			return false
		}
		if a, ok := from.(*unix.SockaddrInet6); ok && netip.AddrFrom16(a.Addr) == src && n >= 8 && buf[0] == 128 && buf[5] == id {
			return true
		}
	}
	return false
}

// addLocalV6 puts a on the namespace's lo without duplicate address
// detection, so it is usable at once.
func addLocalV6(t *testing.T, nsPath string, a netip.Addr) {
	t.Helper()
	h, err := nsutil.Handle(nsPath)
	require.NoError(t, err)
	defer h.Close()
	lo, err := h.LinkByName("lo")
	require.NoError(t, err)
	require.NoError(t, h.AddrAdd(lo, &netlink.Addr{IPNet: kernel.HostNet(a), Flags: unix.IFA_F_NODAD}))
}

func rawICMPv6(t *testing.T, nsPath string) int {
	t.Helper()
	fd := -1
	require.NoError(t, nsutil.Do(nsPath, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6)
		return err
	}))
	tv := unix.Timeval{Usec: 100000}
	require.NoError(t, unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))
	return fd
}
