package cniplugin

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func newFakePools() map[int][]netip.Addr {
	return map[int][]netip.Addr{0: addrRange(primaryIPs, 9), 1: addrRange(eni1IPs, 9)}
}

// TestLibcniLifecycle drives ADD, CHECK, a broken CHECK and DEL through
// libcni for every supported version, against a secondary-ENI address
// (1.0.0, 1.1.0) and a primary-ENI one (0.4.0).
func TestLibcniLifecycle(t *testing.T) {
	n := newTestNode(t)
	ipamd := newFakeIPAMD(t, n.socket, newFakePools())

	for _, tc := range []struct {
		version string
		device  int
	}{{"0.4.0", 0}, {"1.0.0", 1}, {"1.1.0", 1}} {
		t.Run(tc.version, func(t *testing.T) {
			ipamd.setDevice(tc.device)
			pod, podPath := n.newPod(t)
			list := n.confList(t, tc.version, nil)
			rt := runtimeConf(pod, podPath)

			res, err := n.add(list, rt)
			require.NoError(t, err)
			assert.Equal(t, tc.version, res.Version())
			r, err := types100.GetResult(res)
			require.NoError(t, err)
			require.Len(t, r.IPs, 1)
			ip, ok := netip.AddrFromSlice(r.IPs[0].Address.IP.To4())
			require.True(t, ok)
			table := datapath.MainTable
			want := netip.MustParseAddr(primaryIPs)
			if tc.device == 1 {
				table, want = eni1Table, netip.MustParseAddr(eni1IPs)
			}
			if tc.version == "1.1.0" {
				want = want.Next() // 1.0.0 took the first secondary-ENI address
			}
			assert.Equal(t, want, ip)
			assert.Equal(t, "32", maskLen(r.IPs[0].Address.Mask))
			assert.Nil(t, r.IPs[0].Gateway, "no gateway: upstream passes PodENISubnetGW, empty for a non-branch pod")
			assertUpstreamLayout(t, r, pod, podPath, table, tc.device)
			raw, _ := json.Marshal(res)
			assert.NotContains(t, string(raw), `"routes"`, "upstream's result lists no routes")
			if tc.version == "0.4.0" {
				assert.Contains(t, string(raw), `"version":"4"`)
			}

			n.assertWired(t, podPath, pod, ip, table, 9001)
			assert.Error(t, ping(podPath, datapath.GatewayIP), "169.254.1.1 is no address on the node: a pod cannot ping it, as on EKS")
			require.NoError(t, ping(n.ns, ip), "the node reaches the pod over its /32 host route")
			require.NoError(t, n.check(list, rt), "CHECK of a healthy pod")

			if table != datapath.MainTable {
				require.NoError(t, n.h.RuleDel(kernel.FromPodRule(ip, table)))
				err = n.check(list, rt)
				require.Error(t, err, "CHECK after the 1536 rule was deleted")
				assert.Equal(t, int(ErrCheckFailed), cniCode(err))
				assert.Contains(t, err.Error(), `rule "from `+ip.String()+` lookup 2" (priority 1536) is missing`)
			} else {
				require.NoError(t, n.h.RuleDel(kernel.ToPodRule(ip)))
				err = n.check(list, rt)
				require.Error(t, err)
				assert.Contains(t, err.Error(), `rule "to `+ip.String()+` lookup main" (priority 512) is missing`)
			}

			require.NoError(t, n.del(list, rt))
			n.assertTornDown(t, podPath, pod, ip)
			_, err = n.h.LinkByName(datapath.HostVethName("eni", "default", pod))
			assert.NoError(t, err, "DEL leaves the veth to the netns removal, as upstream's TeardownPodNetwork")
			assert.Error(t, ping(n.ns, ip), "after DEL the node no longer reaches the pod")
			assert.Zero(t, ipamd.assignedCount(), "ipamd holds no address")
			assert.Equal(t, ReasonPodDeleted, ipamd.lastReason())
			require.NoError(t, n.del(list, rt), "DEL again succeeds")
		})
	}
}

// assertUpstreamLayout checks the interfaces of an ADD result against
// upstream's cni.go add: [host veth, pod interface with the route table id
// as mac, dummy<hash> with mac "0" and the device number as sandbox].
func assertUpstreamLayout(t *testing.T, r *types100.Result, pod, podPath string, table, device int) {
	t.Helper()
	require.Len(t, r.Interfaces, 3)
	assert.Equal(t, types100.Interface{Name: datapath.HostVethName("eni", "default", pod)}, *r.Interfaces[0])
	assert.Equal(t, types100.Interface{Name: "eth0", Sandbox: podPath, Mac: itoa(table)}, *r.Interfaces[1])
	assert.Equal(t, types100.Interface{Name: datapath.HostVethName("dummy", "default", pod), Mac: "0", Sandbox: itoa(device)}, *r.Interfaces[2])
	require.NotNil(t, r.IPs[0].Interface)
	assert.Equal(t, 1, *r.IPs[0].Interface)
}

func maskLen(m []byte) string {
	ones := 0
	for _, b := range m {
		for ; b != 0; b <<= 1 {
			ones++
		}
	}
	return itoa(ones)
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestInjectedFailureLeavesNothing: a failure — an error or a panic — at
// each stage after the address was assigned releases it (SetupNSFailed) and
// removes every link, route and rule built so far.
func TestInjectedFailureLeavesNothing(t *testing.T) {
	n := newTestNode(t)
	ipamd := newFakeIPAMD(t, n.socket, newFakePools())
	for _, stage := range []string{"assign", "veth", "pod", "host", "panic:veth", "panic:host"} {
		t.Run(stage, func(t *testing.T) {
			t.Setenv(TestFailEnv, stage)
			pod, podPath := n.newPod(t)
			list := n.confList(t, "1.1.0", nil)
			_, err := n.add(list, runtimeConf(pod, podPath))
			require.Error(t, err)
			assert.Equal(t, int(ErrSetupFailed), cniCode(err))
			if strings.HasPrefix(stage, "panic:") {
				assert.Contains(t, err.Error(), "panic: injected panic at stage")
			} else {
				assert.Contains(t, err.Error(), "injected failure at stage")
			}
			assert.Contains(t, err.Error(), "the address was released")
			assert.Equal(t, ReasonSetupFailed, ipamd.lastReason())
			assert.Zero(t, ipamd.assignedCount(), "no assigned IP left in ipamd")
			for _, ip := range addrRange(eni1IPs, 9) {
				assert.Zero(t, n.countPodRules(t, ip, datapath.ToPodRulePriority)+n.countPodRules(t, ip, datapath.FromPodRulePriority), "no rule for %v", ip)
			}
			n.assertClean(t, podPath, pod, netip.MustParseAddr(eni1IPs))
			n.assertNothingWired(t)
			assert.Empty(t, listDir(t, n.stateDir), "no state record")
		})
	}
}

// TestIPAMDDown: ADD fails with 11 naming the socket, STATUS is 50, and DEL
// of a pod whose ipamd died still removes everything (from prevResult).
func TestIPAMDDown(t *testing.T) {
	n := newTestNode(t)
	pod, podPath := n.newPod(t)
	logFile := filepath.Join(n.dir, "log", "plugin.log")
	list := n.confList(t, "1.1.0", map[string]any{"pluginLogFile": logFile, "pluginLogLevel": "debug"})
	rt := runtimeConf(pod, podPath)

	_, err := n.add(list, rt)
	require.Error(t, err)
	assert.Equal(t, 11, cniCode(err))
	assert.Contains(t, err.Error(), "ipamd is unreachable at "+n.socket)
	n.assertClean(t, podPath, pod, netip.Addr{})

	err = n.inNode(func() error { return n.cni.GetStatusNetworkList(t.Context(), list) })
	require.Error(t, err)
	assert.Equal(t, 50, cniCode(err))
	assert.Contains(t, err.Error(), "ipamd is unreachable at "+n.socket)

	ipamd := newFakeIPAMD(t, n.socket, newFakePools())
	require.NoError(t, n.inNode(func() error { return n.cni.GetStatusNetworkList(t.Context(), list) }), "STATUS with ipamd up")
	_, ip := n.addIPv4(t, list, rt)
	n.assertWired(t, podPath, pod, ip, eni1Table, 9001)

	ipamd.stop()
	require.NoError(t, os.RemoveAll(n.stateDir), "only prevResult (and the veth) say what to clean")
	require.NoError(t, n.del(list, rt), "DEL succeeds with ipamd down")
	n.assertTornDown(t, podPath, pod, ip)
	require.NoError(t, n.del(list, rt), "and again")

	logged, err := os.ReadFile(logFile)
	require.NoError(t, err)
	assert.Contains(t, string(logged), `msg="ADD failed"`)
	assert.Contains(t, string(logged), "ipamd is unreachable at")
	assert.Contains(t, string(logged), `msg="DEL done"`)
	assert.Contains(t, string(logged), "container=cid-"+pod)
}

// TestDelIdempotent: DEL after the netns is gone, after the link is gone,
// and of a pod ipamd never heard of all succeed.
func TestDelIdempotent(t *testing.T) {
	n := newTestNode(t)
	ipamd := newFakeIPAMD(t, n.socket, newFakePools())
	list := n.confList(t, "1.0.0", nil)

	// netns gone: the runtime destroyed the sandbox before DEL.
	pod, podPath := n.newPod(t)
	rt := runtimeConf(pod, podPath)
	_, ip := n.addIPv4(t, list, rt)
	require.NoError(t, nsutil.DeleteNamed(n.base+"-"+pod))
	require.NoError(t, n.del(list, rt))
	n.assertTornDown(t, podPath, pod, ip)
	assert.Zero(t, ipamd.assignedCount())

	// link gone: someone deleted the host veth.
	pod, podPath = n.newPod(t)
	rt = runtimeConf(pod, podPath)
	_, ip = n.addIPv4(t, list, rt)
	l, err := n.h.LinkByName(datapath.HostVethName("eni", "default", pod))
	require.NoError(t, err)
	require.NoError(t, n.h.LinkDel(l))
	require.NoError(t, n.del(list, rt))
	n.assertTornDown(t, podPath, pod, ip)
	require.NoError(t, n.del(list, rt), "repeated")

	// A pod ipamd does not know and the plugin never wired.
	pod, podPath = n.newPod(t)
	require.NoError(t, n.inNode(func() error {
		return n.cni.DelNetworkList(t.Context(), list, runtimeConf(pod, podPath))
	}))
	assert.Equal(t, ReasonPodDeleted, ipamd.lastReason())
}

// TestGCReleasesStale: an attachment the runtime no longer lists is released
// and unwired by GC; a valid one is untouched.
func TestGCReleasesStale(t *testing.T) {
	n := newTestNode(t)
	ipamd := newFakeIPAMD(t, n.socket, newFakePools())
	list := n.confList(t, "1.1.0", nil)
	podA, pathA := n.newPod(t)
	podB, pathB := n.newPod(t)
	rtA, rtB := runtimeConf(podA, pathA), runtimeConf(podB, pathB)
	resA, err := n.add(list, rtA)
	require.NoError(t, err)
	_, err = n.add(list, rtB)
	require.NoError(t, err)
	rA, _ := types100.GetResult(resA)
	ipA, _ := netip.AddrFromSlice(rA.IPs[0].Address.IP.To4())

	// The runtime lost track of A (its cache entry is gone), so libcni
	// cannot DEL it: only the plugin's GC can give the address back.
	require.NoError(t, os.Remove(filepath.Join(n.cacheDir, "results", n.network+"-"+rtA.ContainerID+"-eth0")))
	require.NoError(t, n.inNode(func() error {
		return n.cni.GCNetworkList(t.Context(), list, &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: rtB.ContainerID, IfName: "eth0"}}})
	}))
	assert.Equal(t, ReasonGC, ipamd.lastReason())
	assert.Equal(t, 1, ipamd.assignedCount(), "only B keeps its address")
	n.assertClean(t, pathA, podA, ipA)
	require.NoError(t, n.check(list, rtB), "B is untouched")
}

// TestRepeatedADDAndEmptyPool: a repeated ADD of the same attachment gets
// the same address and leaves one working veth; with the pool empty ADD
// fails with 11 and says why; CHECK names every broken item at once.
func TestRepeatedADDAndEmptyPool(t *testing.T) {
	n := newTestNode(t)
	ipamd := newFakeIPAMD(t, n.socket, map[int][]netip.Addr{1: addrRange(eni1IPs, 1)})
	list := n.confList(t, "1.1.0", nil)
	pod, podPath := n.newPod(t)
	rt := runtimeConf(pod, podPath)
	_, err := n.add(list, rt)
	require.NoError(t, err)
	res, err := n.add(list, rt)
	require.NoError(t, err, "repeated ADD")
	r, _ := types100.GetResult(res)
	ip, _ := netip.AddrFromSlice(r.IPs[0].Address.IP.To4())
	assert.Equal(t, netip.MustParseAddr(eni1IPs), ip)
	n.assertWired(t, podPath, pod, ip, eni1Table, 9001)
	require.NoError(t, ping(n.ns, ip), "the node reaches the pod over its /32 host route")
	assert.Equal(t, 1, ipamd.assignedCount())

	other, otherPath := n.newPod(t)
	_, err = n.add(list, runtimeConf(other, otherPath))
	require.Error(t, err)
	assert.Equal(t, 11, cniCode(err))
	assert.Contains(t, err.Error(), "ipamd has no free IP address for pod default/"+other)
	n.assertClean(t, otherPath, other, netip.Addr{})

	// Break two things: both are named.
	ph, err := nsutil.Handle(podPath)
	require.NoError(t, err)
	defer ph.Close()
	eth0, err := ph.LinkByName("eth0")
	require.NoError(t, err)
	neighs, err := ph.NeighList(eth0.Attrs().Index, 0)
	require.NoError(t, err)
	for _, ne := range neighs {
		require.NoError(t, ph.NeighDel(&ne))
	}
	require.NoError(t, n.h.RuleDel(kernel.ToPodRule(ip)))
	err = n.check(list, rt)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "permanent neighbour 169.254.1.1")
	assert.Contains(t, err.Error(), `rule "to `+ip.String()+` lookup main" (priority 512) is missing`)

	require.NoError(t, n.del(list, rt))
	n.assertTornDown(t, podPath, pod, ip)
}

// TestPodToPodNeedsRule512: a primary-ENI pod and a secondary-ENI pod on
// one node reach each other; without the `to <ip> lookup main` rule (512)
// the secondary-ENI pod's replies follow its 1536 rule out of eth1 and the
// ping fails — the silent drop this rule exists to prevent.
func TestPodToPodNeedsRule512(t *testing.T) {
	n := newTestNode(t)
	require.NoError(t, n.inNode(func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) }))
	ipamd := newFakeIPAMD(t, n.socket, newFakePools())
	list := n.confList(t, "1.1.0", nil)

	ipamd.setDevice(0)
	podA, pathA := n.newPod(t)
	resA, err := n.add(list, runtimeConf(podA, pathA))
	require.NoError(t, err)
	ipamd.setDevice(1)
	podB, pathB := n.newPod(t)
	resB, err := n.add(list, runtimeConf(podB, pathB))
	require.NoError(t, err)
	rA, _ := types100.GetResult(resA)
	rB, _ := types100.GetResult(resB)
	ipA, _ := netip.AddrFromSlice(rA.IPs[0].Address.IP.To4())
	ipB, _ := netip.AddrFromSlice(rB.IPs[0].Address.IP.To4())

	require.NoError(t, ping(pathA, ipB), "A → B")
	require.NoError(t, ping(pathB, ipA), "B → A")
	require.NoError(t, n.h.RuleDel(kernel.ToPodRule(ipA)))
	assert.Error(t, ping(pathA, ipB), "B's reply to A leaves by eth1 without rule 512")
	require.NoError(t, n.h.RuleAdd(kernel.ToPodRule(ipA)))
	require.NoError(t, ping(pathA, ipB), "restored")

	require.NoError(t, n.del(list, runtimeConf(podA, pathA)))
	require.NoError(t, n.del(list, runtimeConf(podB, pathB)))
	n.assertTornDown(t, pathA, podA, ipA)
	n.assertTornDown(t, pathB, podB, ipB)
}

// TestADDReplacesStaleRulesOfItsAddress: rules an earlier owner of the
// address left, whatever their table, go before ADD installs the pod's own
// (they would misroute it), and DEL removes the pod's rules of every table;
// another address's rules stay throughout. Upstream's
// setupIPBasedContainerRouteRules adds the 512 and 1536 rules; enilab also
// clears the address's stale ones first.
func TestADDReplacesStaleRulesOfItsAddress(t *testing.T) {
	n := newTestNode(t)
	newFakeIPAMD(t, n.socket, newFakePools()) // secondary ENI first: 10.0.1.21, table 2
	list := n.confList(t, "1.1.0", nil)
	ip, other := netip.MustParseAddr(eni1IPs), netip.MustParseAddr("10.0.1.99")
	stale := []*netlink.Rule{kernel.FromPodRule(ip, 9), kernel.FromPodRule(ip, 11), kernel.FromPodRule(other, 9)}
	to := kernel.ToPodRule(ip)
	to.Table = 7
	stale = append(stale, to, kernel.ToPodRule(other))
	for _, r := range stale {
		require.NoError(t, n.h.RuleAdd(r))
	}

	pod, path := n.newPod(t)
	_, err := n.add(list, runtimeConf(pod, path))
	require.NoError(t, err)
	assert.Equal(t, 1, n.countPodRules(t, ip, datapath.ToPodRulePriority), "only the pod's own 512 rule")
	assert.Equal(t, 1, n.countRules(t, kernel.ToPodRule(ip)))
	assert.Equal(t, 1, n.countPodRules(t, ip, datapath.FromPodRulePriority), "only the pod's own 1536 rule")
	assert.Equal(t, 1, n.countRules(t, kernel.FromPodRule(ip, eni1Table)))
	assert.Equal(t, 1, n.countRules(t, kernel.ToPodRule(other)), "another address's rules stay")
	assert.Equal(t, 1, n.countRules(t, kernel.FromPodRule(other, 9)))

	require.NoError(t, n.h.RuleAdd(kernel.FromPodRule(ip, 13)))
	require.NoError(t, n.del(list, runtimeConf(pod, path)))
	assert.Zero(t, n.countPodRules(t, ip, datapath.ToPodRulePriority))
	assert.Zero(t, n.countPodRules(t, ip, datapath.FromPodRulePriority), "DEL removes the address's 1536 rules of every table")
	assert.Equal(t, 1, n.countRules(t, kernel.ToPodRule(other)))
	assert.Equal(t, 1, n.countRules(t, kernel.FromPodRule(other, 9)))
}
