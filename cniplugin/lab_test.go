package cniplugin

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/netsetup"
)

// TestMain lets the test binary be the plugin: libcni and cnitool exec a
// symlink named aws-cni that points at it.
func TestMain(m *testing.M) {
	if IsPluginExec(os.Args[0]) {
		Main()
	}
	sweepStale(10 * time.Minute)
	os.Exit(m.Run())
}

// shmDir is the machine's tmpfs, where newBareNode keeps what a node keeps
// in /var/run (as node/rundir.go does for a lab's nodes).
const shmDir = "/dev/shm"

// sweepStale removes what an interrupted earlier run left (its t.Cleanup
// never ran): enlt-cni- namespaces, temp and run dirs (newBareNode) and
// cnitool cache entries older than age — old enough not to belong to a run
// going on right now.
func sweepStale(age time.Duration) {
	if !nsutil.IsRoot() {
		return
	}
	old := func(p string) bool {
		fi, err := os.Lstat(p)
		return err == nil && time.Since(fi.ModTime()) > age
	}
	if names, err := nsutil.ListNamed("enlt-cni-"); err == nil {
		for _, name := range names {
			if old(nsutil.Path(name)) {
				_ = nsutil.DeleteNamed(name)
			}
		}
	}
	for _, pattern := range []string{
		filepath.Join(os.TempDir(), "enlt-cni-*"), filepath.Join(shmDir, "enlt-cni-*"), "/var/lib/cni/results/enlt-cni-*",
	} {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			if old(m) {
				_ = os.RemoveAll(m)
			}
		}
	}
}

// Addresses of the namespace-backed node every privileged test builds.
var (
	nodeIP     = netip.MustParseAddr("10.0.1.10")
	eni1IP     = netip.MustParseAddr("10.0.1.20")
	subnet     = netip.MustParsePrefix("10.0.1.0/24")
	eth0MAC    = "02:ee:00:00:00:01"
	eth1MAC    = "02:ee:00:00:01:01"
	eni1Table  = 2
	primaryIPs = "10.0.1.11" // device 0 pool start
	eni1IPs    = "10.0.1.21" // device 1 pool start
)

// testNode is a node namespace with a primary ENI eth0 and a secondary ENI
// eth1 (veths whose peers sit in a "VPC" namespace), eth1 configured by
// netsetup.SetupENI, plus a directory with the plugin, the libcni cache, the
// plugin's state and the ipamd socket.
type testNode struct {
	base, ns, vpc                   string
	dir, binDir, cacheDir, stateDir string
	runDir                          string // socket, checkpoint, state: a node's /var/run
	socket, network                 string
	h                               *netlink.Handle
	cni                             *libcni.CNIConfig
	pods                            int
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func needRoot(t testing.TB) {
	t.Helper()
	if !nsutil.IsRoot() {
		t.Skip("needs root: builds a namespace-backed node and pods")
	}
}

func newTestNode(t testing.TB) *testNode {
	t.Helper()
	n := newBareNode(t)
	n.addENILink(t, 0, eth0MAC)
	n.addENILink(t, 1, eth1MAC)
	eth0, err := n.h.LinkByName("eth0")
	require.NoError(t, err)
	require.NoError(t, n.h.AddrAdd(eth0, &netlink.Addr{IPNet: &net.IPNet{IP: nodeIP.AsSlice(), Mask: net.CIDRMask(24, 32)}}))
	require.NoError(t, n.h.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: net.ParseIP("10.0.1.1").To4()}))
	require.NoError(t, netsetup.SetupENI(n.ns, netsetup.ENI{MAC: eth1MAC, PrimaryIP: eni1IP, SubnetCIDR: subnet, DeviceNumber: 1, MTU: 9001}))
	require.NoError(t, netsetup.SetupHost(n.ns, netsetup.Host{PrimaryMAC: eth0MAC, PrimaryIP: nodeIP, VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, SNAT: netsetup.SNAT{NodePortSupport: true}}))
	return n
}

// newBareNode is a node namespace (lo up), its VPC namespace, and the
// directory with the plugin, caches, state and socket path; no ENIs yet.
func newBareNode(t testing.TB) *testNode {
	t.Helper()
	needRoot(t)
	n := &testNode{base: "enlt-cni-" + randHex(3)}
	n.network = n.base
	var err error
	n.dir, err = os.MkdirTemp("", "enlt-cni-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(n.dir) })
	// What a node keeps in /var/run goes on a tmpfs, as a lab node's
	// (node/rundir.go), where the machine has one at /dev/shm.
	n.runDir, err = os.MkdirTemp(shmDir, "enlt-cni-")
	if err != nil {
		n.runDir = n.dir
	}
	t.Cleanup(func() { os.RemoveAll(n.runDir) })
	n.binDir = filepath.Join(n.dir, "bin")
	n.cacheDir = filepath.Join(n.dir, "cache")
	n.stateDir = filepath.Join(n.runDir, "state")
	n.socket = filepath.Join(n.runDir, "ipamd.sock")
	require.NoError(t, os.MkdirAll(n.binDir, 0o755))
	self, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, os.Symlink(self, filepath.Join(n.binDir, ExecName)))
	n.cni = libcni.NewCNIConfigWithCacheDir([]string{n.binDir}, n.cacheDir, nil)

	n.ns, err = nsutil.NewNamed(n.base + "-node")
	require.NoError(t, err)
	t.Cleanup(func() { _ = nsutil.DeleteNamed(n.base + "-node") })
	n.vpc, err = nsutil.NewNamed(n.base + "-vpc")
	require.NoError(t, err)
	t.Cleanup(func() { _ = nsutil.DeleteNamed(n.base + "-vpc") })

	n.h, err = nsutil.Handle(n.ns)
	require.NoError(t, err)
	t.Cleanup(n.h.Close)
	lo, err := n.h.LinkByName("lo")
	require.NoError(t, err)
	require.NoError(t, n.h.LinkSetUp(lo))
	return n
}

// addENILink hot-plugs an ENI: eth<device> in the node namespace with the
// ENI's MAC, a veth whose peer (up) sits in the VPC namespace.
func (n *testNode) addENILink(t testing.TB, device int, mac string) {
	t.Helper()
	require.NoError(t, n.plugENI(device, mac))
}

func (n *testNode) plugENI(device int, mac string) error {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return err
	}
	vf, err := os.Open(n.vpc)
	if err != nil {
		return err
	}
	defer vf.Close()
	vh, err := nsutil.Handle(n.vpc)
	if err != nil {
		return err
	}
	defer vh.Close()
	name, peer := fmt.Sprintf("eth%d", device), fmt.Sprintf("vpc-eth%d", device)
	if err := n.h.LinkAdd(&netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: hw, MTU: 9001},
		PeerName:  peer, PeerNamespace: netlink.NsFd(int(vf.Fd())),
	}); err != nil {
		return fmt.Errorf("plug %s: %w", name, err)
	}
	pl, err := vh.LinkByName(peer)
	if err != nil {
		return err
	}
	if err := vh.LinkSetUp(pl); err != nil {
		return err
	}
	l, err := n.h.LinkByName(name)
	if err != nil {
		return err
	}
	return n.h.LinkSetUp(l)
}

// newPod makes an empty pod namespace.
func (n *testNode) newPod(t testing.TB) (name, path string) {
	t.Helper()
	n.pods++
	name = fmt.Sprintf("pod-%d", n.pods)
	path, err := nsutil.NewNamed(n.base + "-" + name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nsutil.DeleteNamed(n.base + "-" + name) })
	return name, path
}

// confList is the node's network config for cniVersion with extra plugin
// fields.
func (n *testNode) confList(t testing.TB, cniVersion string, extra map[string]any) *libcni.NetworkConfigList {
	t.Helper()
	plugin := map[string]any{"type": "aws-cni", "vethPrefix": "eni", "mtu": "9001", "ipamdSocket": n.socket, "stateDir": n.stateDir}
	for k, v := range extra {
		plugin[k] = v
	}
	data, err := json.Marshal(map[string]any{"cniVersion": cniVersion, "name": n.network, "plugins": []any{plugin}})
	require.NoError(t, err)
	list, err := libcni.NetworkConfFromBytes(data)
	require.NoError(t, err)
	return list
}

func runtimeConf(pod, podPath string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: "cid-" + pod,
		NetNS:       podPath,
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", "default"},
			{"K8S_POD_NAME", pod},
			{"K8S_POD_INFRA_CONTAINER_ID", "cid-" + pod},
			{"K8S_POD_UID", "uid-" + pod},
		},
	}
}

// inNode runs fn with the calling thread in the node namespace, so what it
// execs (libcni → plugin, cnitool) runs there, as a kubelet on the node would.
func (n *testNode) inNode(fn func() error) error { return nsutil.Do(n.ns, fn) }

func (n *testNode) add(list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (res types.Result, err error) {
	err = n.inNode(func() error {
		res, err = n.cni.AddNetworkList(context.Background(), list, rt)
		return err
	})
	return res, err
}

// addIPv4 ADDs rt through list and returns the result as 1.0.0 and its
// first address, which must be IPv4.
func (n *testNode) addIPv4(t testing.TB, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (*types100.Result, netip.Addr) {
	t.Helper()
	res, err := n.add(list, rt)
	require.NoError(t, err)
	r, err := types100.GetResult(res)
	require.NoError(t, err)
	require.NotEmpty(t, r.IPs, "ADD's result has no address")
	ip, ok := netip.AddrFromSlice(r.IPs[0].Address.IP.To4())
	require.True(t, ok, "ADD's first address %v is not IPv4", r.IPs[0].Address.IP)
	return r, ip
}

func (n *testNode) del(list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	return n.inNode(func() error { return n.cni.DelNetworkList(context.Background(), list, rt) })
}

func (n *testNode) check(list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	return n.inNode(func() error { return n.cni.CheckNetworkList(context.Background(), list, rt) })
}

// cniCode is the CNI error code of err, or -1.
func cniCode(err error) int {
	var e *types.Error
	if errors.As(err, &e) {
		return int(e.Code)
	}
	return -1
}

// assertWired checks every item of DESIGN §4 for a pod.
func (n *testNode) assertWired(t *testing.T, podPath, pod string, ip netip.Addr, table, mtu int) {
	t.Helper()
	hostVeth := datapath.HostVethName("eni", "default", pod)
	host, err := n.h.LinkByName(hostVeth)
	require.NoError(t, err, "host veth %s in the node namespace", hostVeth)
	assert.NotZero(t, host.Attrs().Flags&net.FlagUp, "host veth up")
	haddrs, err := n.h.AddrList(host, netlink.FAMILY_V4)
	require.NoError(t, err)
	assert.Empty(t, haddrs, "the host veth carries no IPv4 address (upstream createVethPairContext.run)")
	assert.Empty(t, host.Attrs().Alias, "no alias: `ip link` shows the host veth as upstream's")
	n.assertHostVethSysctls(t, hostVeth)

	ph, err := nsutil.Handle(podPath)
	require.NoError(t, err)
	defer ph.Close()
	eth0, err := ph.LinkByName("eth0")
	require.NoError(t, err)
	assert.Equal(t, mtu, eth0.Attrs().MTU)
	assert.NotZero(t, eth0.Attrs().Flags&net.FlagUp)
	addrs, err := ph.AddrList(eth0, netlink.FAMILY_V4)
	require.NoError(t, err)
	require.Len(t, addrs, 1)
	assert.Equal(t, ip.String()+"/32", addrs[0].IPNet.String())

	routes, err := ph.RouteList(eth0, netlink.FAMILY_V4)
	require.NoError(t, err)
	var got []string
	for _, r := range routes {
		got = append(got, routeString(r))
	}
	gw := datapath.GatewayIP.String()
	assert.ElementsMatch(t, []string{gw + "/32 scope link", "default via " + gw}, got, "the pod's routes (upstream createVethPairContext.run)")

	neighs, err := ph.NeighList(eth0.Attrs().Index, netlink.FAMILY_V4)
	require.NoError(t, err)
	found := false
	for _, ne := range neighs {
		if ne.IP.Equal(datapath.GatewayIP.AsSlice()) {
			found = true
			assert.Equal(t, netlink.NUD_PERMANENT, ne.State, "neighbour is permanent")
			assert.Equal(t, host.Attrs().HardwareAddr.String(), ne.HardwareAddr.String(), "neighbour → host veth MAC")
		}
	}
	assert.True(t, found, "neighbour entry for 169.254.1.1")

	hr, err := n.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: kernel.HostNet(ip), Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	require.NoError(t, err)
	require.Len(t, hr, 1, "host route %v/32", ip)
	assert.Equal(t, host.Attrs().Index, hr[0].LinkIndex)
	assert.Equal(t, netlink.SCOPE_LINK, hr[0].Scope)

	assert.Equal(t, 1, n.countRules(t, kernel.ToPodRule(ip)), "rule to %v lookup main prio 512", ip)
	if table != datapath.MainTable {
		assert.Equal(t, 1, n.countRules(t, kernel.FromPodRule(ip, table)), "rule from %v lookup %d prio 1536", ip, table)
	} else {
		assert.Zero(t, n.countPodRules(t, ip, datapath.FromPodRulePriority), "no 1536 rule for a primary-ENI address")
	}
}

// assertHostVethSysctls checks upstream's setHostVethV6Sysctls values on
// the host veth (skipped on a kernel without IPv6).
func (n *testNode) assertHostVethSysctls(t *testing.T, hostVeth string) {
	t.Helper()
	got := map[string]string{}
	require.NoError(t, nsutil.Do(n.ns, func() error {
		for _, k := range []string{"accept_ra", "accept_redirects", "forwarding"} {
			b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + hostVeth + "/" + k)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			got[k] = strings.TrimSpace(string(b))
		}
		return nil
	}))
	if len(got) == 0 {
		return
	}
	assert.Equal(t, map[string]string{"accept_ra": "0", "accept_redirects": "1", "forwarding": "0"}, got, "IPv6 sysctls of %s", hostVeth)
}

// assertTornDown checks what DEL removes, as upstream's TeardownPodNetwork:
// the host route to the pod and its 512 and 1536 rules. The veth pair is
// not DEL's to remove: it goes with the netns the runtime deletes.
func (n *testNode) assertTornDown(t *testing.T, podPath, pod string, ip netip.Addr) {
	t.Helper()
	hr, err := n.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: kernel.HostNet(ip), Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	require.NoError(t, err)
	assert.Empty(t, hr, "host route to %v is gone", ip)
	assert.Zero(t, n.countPodRules(t, ip, datapath.ToPodRulePriority), "512 rule gone")
	assert.Zero(t, n.countPodRules(t, ip, datapath.FromPodRulePriority), "1536 rule gone")
}

// assertClean checks that nothing of a pod is left.
func (n *testNode) assertClean(t *testing.T, podPath, pod string, ip netip.Addr) {
	t.Helper()
	hostVeth := datapath.HostVethName("eni", "default", pod)
	_, err := n.h.LinkByName(hostVeth)
	assert.Error(t, err, "host veth %s is gone", hostVeth)
	if ph, err := nsutil.Handle(podPath); err == nil {
		links, err := ph.LinkList()
		require.NoError(t, err)
		for _, l := range links {
			assert.Equal(t, "lo", l.Attrs().Name, "only lo is left in the pod")
		}
		ph.Close()
	}
	if ip.IsValid() {
		hr, err := n.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: kernel.HostNet(ip), Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
		require.NoError(t, err)
		assert.Empty(t, hr, "host route to %v is gone", ip)
		assert.Zero(t, n.countPodRules(t, ip, datapath.ToPodRulePriority), "512 rule gone")
		assert.Zero(t, n.countPodRules(t, ip, datapath.FromPodRulePriority), "1536 rule gone")
	}
}

// assertNothingWired checks that no pod is wired on the node at all: no
// host veth (vethPrefix "eni") but those of deleted pods in keep (DEL leaves
// them to the netns removal) and no rule at 512 or 1536 — what a failed ADD
// whose address is unknown to the test must leave.
func (n *testNode) assertNothingWired(t *testing.T, keep ...string) {
	t.Helper()
	links, err := n.h.LinkList()
	require.NoError(t, err)
	for _, l := range links {
		name := l.Attrs().Name
		assert.False(t, strings.HasPrefix(name, "eni") && !slices.Contains(keep, name), "host veth %s left", name)
	}
	rules, err := n.h.RuleList(netlink.FAMILY_V4)
	require.NoError(t, err)
	for _, r := range rules {
		assert.NotContains(t, []int{datapath.ToPodRulePriority, datapath.FromPodRulePriority}, r.Priority, "pod rule left: %v", r)
	}
}

func (n *testNode) countRules(t testing.TB, want *netlink.Rule) int {
	t.Helper()
	rules, err := n.h.RuleList(netlink.FAMILY_V4)
	require.NoError(t, err)
	c := 0
	for _, r := range rules {
		if kernel.SameRule(r, *want) {
			c++
		}
	}
	return c
}

func (n *testNode) countPodRules(t testing.TB, ip netip.Addr, prio int) int {
	t.Helper()
	rules, err := n.h.RuleList(netlink.FAMILY_V4)
	require.NoError(t, err)
	c := 0
	for _, r := range rules {
		if r.Priority != prio {
			continue
		}
		if (r.Dst != nil && r.Dst.String() == kernel.HostNet(ip).String()) || (r.Src != nil && r.Src.String() == kernel.HostNet(ip).String()) {
			c++
		}
	}
	return c
}

func routeString(r netlink.Route) string {
	if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
		return "default via " + r.Gw.String()
	}
	s := r.Dst.String()
	if r.Scope == netlink.SCOPE_LINK {
		s += " scope link"
	}
	return s
}

// ping sends ICMP echo requests to dst from a raw socket opened inside the
// namespace at nsPath and returns nil once a reply arrives.
func ping(nsPath string, dst netip.Addr) error {
	fd := -1
	if err := nsutil.Do(nsPath, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
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
		pkt := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'e', 'n', 'i', 'l', 'a', 'b'}
		cs := icmpChecksum(pkt)
		pkt[2], pkt[3] = byte(cs>>8), byte(cs)
		if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: dst.As4()}); err != nil {
			return fmt.Errorf("send to %v: %w", dst, err)
		}
		deadline := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(deadline) {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				break
			}
			src, ok := from.(*unix.SockaddrInet4)
			if !ok || netip.AddrFrom4(src.Addr) != dst || n < 20 {
				continue
			}
			ihl := int(buf[0]&0x0f) * 4
			if n < ihl+8 {
				continue
			}
			icmp := buf[ihl:n]
			if icmp[0] == 0 && binary.BigEndian.Uint16(icmp[4:6]) == id {
				return nil
			}
		}
	}
	return fmt.Errorf("no echo reply from %v", dst)
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func addrOf(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
}

func defaultVia(linkIndex int, gw string) *netlink.Route {
	return &netlink.Route{LinkIndex: linkIndex, Gw: net.ParseIP(gw).To4()}
}
