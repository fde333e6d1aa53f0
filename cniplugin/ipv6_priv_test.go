package cniplugin

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/rpc"
)

// allocMeta is the fake ipamd's answer for a: IPv4Addr, or IPv6Addr for
// an IPv6 address as ipamd in IPv6 mode answers.
func allocMeta(a fakeAssignment) *rpc.IPAllocationMetadata {
	m := &rpc.IPAllocationMetadata{DeviceNumber: int32(a.device), RouteTableId: int32(datapath.ENITable(a.device))}
	if a.ip.Is6() {
		m.IPv6Addr = a.ip.String()
	} else {
		m.IPv4Addr = a.ip.String()
	}
	return m
}

// Upstream's driver.go setupVeth for an IPv6 address: the pod's /128, the
// routes `fe80::1 dev eth0 scope link` and `default via fe80::1`, a
// permanent neighbour fe80::1 → host veth MAC, then the host /128 route and
// rule 512 (setupIPBasedContainerRouteRules); pod ↔ pod over IPv6 through
// the node; CHECK names a missing host route; DEL removes route and rules.
func TestIPv6PodAsUpstreamSetupVeth(t *testing.T) {
	n := newTestNode(t)
	require.NoError(t, n.inNode(func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("1"), 0o644)
	}))
	ipamd := newFakeIPAMD(t, n.socket, map[int][]netip.Addr{0: addrRange("2600:1f14:aa:1b00:7c3e::", 4)})
	list := n.confList(t, "1.1.0", nil)

	podA, pathA := n.newPod(t)
	resA, err := n.add(list, runtimeConf(podA, pathA))
	require.NoError(t, err)
	podB, pathB := n.newPod(t)
	resB, err := n.add(list, runtimeConf(podB, pathB))
	require.NoError(t, err)
	rA, _ := types100.GetResult(resA)
	rB, _ := types100.GetResult(resB)
	require.Len(t, rA.IPs, 1)
	assert.Equal(t, "128", maskLen(rA.IPs[0].Address.Mask))
	ipA, _ := netip.AddrFromSlice(rA.IPs[0].Address.IP)
	ipB, _ := netip.AddrFromSlice(rB.IPs[0].Address.IP)
	assert.Equal(t, netip.MustParseAddr("2600:1f14:aa:1b00:7c3e::"), ipA)

	assertPodSideV6(t, pathA, ipA)
	// The host veths' link-local addresses finish duplicate address
	// detection (about a second) before the node can solicit the pods.
	require.NoError(t, ping6Within(pathA, ipB, 5*time.Second), "A → B over IPv6 through the node")
	require.NoError(t, ping6(n.ns, ipA), "the node reaches the pod over its /128 host route")
	require.NoError(t, n.check(list, runtimeConf(podA, pathA)))

	hostA := datapath.HostVethName("eni", "default", podA)
	l, err := n.h.LinkByName(hostA)
	require.NoError(t, err)
	require.NoError(t, n.h.RouteDel(kernel.HostRoute(ipA, l.Attrs().Index, 0)))
	assert.Error(t, ping6(pathB, ipA), "without its host route the pod is unreachable")
	err = n.check(list, runtimeConf(podA, pathA))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "host route "+ipA.String()+"/128 dev "+hostA+" scope link is missing")

	require.NoError(t, n.del(list, runtimeConf(podA, pathA)))
	require.NoError(t, n.del(list, runtimeConf(podB, pathB)))
	rules, err := n.h.RuleList(netlink.FAMILY_V6)
	require.NoError(t, err)
	for _, r := range rules {
		assert.NotEqual(t, datapath.ToPodRulePriority, r.Priority, "rule 512 left after DEL: %v", r)
	}
	routes, err := n.h.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Dst: kernel.HostNet(ipB), Table: datapath.MainTable},
		netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	require.NoError(t, err)
	assert.Empty(t, routes, "DEL removes the host /128 route")
	assert.Zero(t, ipamd.assignedCount())
}

// assertPodSideV6 checks what upstream's setupVeth leaves in the pod.
func assertPodSideV6(t *testing.T, podPath string, ip netip.Addr) {
	t.Helper()
	h, err := nsutil.Handle(podPath)
	require.NoError(t, err)
	defer h.Close()
	l, err := h.LinkByName("eth0")
	require.NoError(t, err)
	addrs, err := h.AddrList(l, netlink.FAMILY_V6)
	require.NoError(t, err)
	assert.True(t, hasAddr(addrs, kernel.HostNet(ip)), "%v/128 on eth0: %v", ip, addrs)
	bad := &findings{}
	checkPodRoutes(h, l, "eth0", GatewayIPv6, bad)
	checkPodNeighbour(h, l, "eth0", nil, GatewayIPv6, bad)
	assert.Empty(t, *bad, "pod side")
	require.NoError(t, nsutil.Do(podPath, func() error {
		b, err := os.ReadFile("/proc/sys/net/ipv6/conf/eth0/disable_ipv6")
		assert.Equal(t, "0\n", string(b))
		return err
	}))
}

// ping6Within retries ping6 until it succeeds or d has passed.
func ping6Within(nsPath string, dst netip.Addr, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := ping6(nsPath, dst)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// ping6 sends ICMPv6 echo requests to dst from a raw socket opened inside
// the namespace at nsPath (the kernel fills in the checksum) and returns
// nil once a reply arrives.
func ping6(nsPath string, dst netip.Addr) error {
	fd := -1
	if err := nsutil.Do(nsPath, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6)
		return err
	}); err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 0, Usec: 300000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	buf := make([]byte, 1500)
	for seq := uint16(1); seq <= 5; seq++ {
		pkt := []byte{128, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'e', 'n', 'i', 'l', 'a', 'b'}
		if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet6{Addr: dst.As16()}); err != nil {
			return fmt.Errorf("send to %v: %w", dst, err)
		}
		deadline := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(deadline) {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				break
			}
			src, ok := from.(*unix.SockaddrInet6)
			if !ok || netip.AddrFrom16(src.Addr) != dst || n < 8 {
				continue
			}
			if buf[0] == 129 && binary.BigEndian.Uint16(buf[4:6]) == id {
				return nil
			}
		}
	}
	return fmt.Errorf("no echo reply from %v", dst)
}
