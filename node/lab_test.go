package node

import (
	"context"
	"fmt"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/cniplugin/multicall"
	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/config"
)

// TestMain builds the lab's own plugins for the labs of these tests
// (RunWithOwnPlugins); the test binary still serves as the plugin for a
// lab that re-executes it (TestLabRunsOwnPluginsElseItsBinary).
func TestMain(m *testing.M) {
	multicall.RunIfPlugin()
	if nsutil.IsRoot() {
		// Labs of an earlier run that was killed (its cleanups never ran).
		_ = SweepStale("enlt-node-", 15*time.Minute)
	}
	os.Exit(RunWithOwnPlugins(m.Run))
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := LabConfig{
		Prefix:    "Bad_Prefix",
		TimeScale: -1,
		Subnets: []SubnetSpec{
			{ID: "subnet-a", CIDR: "10.0.1.0/24"},
			{ID: "subnet-a", CIDR: "nonsense"},
		},
		Reservations: []ReservationSpec{{Subnet: "subnet-x", CIDR: "10.0.1.0/25", Type: "both"}},
		Backend:      "tap",
	}.Validate()
	require.Error(t, err)
	for _, want := range []string{`prefix "Bad_Prefix"`, "timeScale -1", `duplicate id "subnet-a"`, `cidr "nonsense"`,
		`unknown subnet "subnet-x"`, `type "both"`, `backend "tap"`} {
		assert.ErrorContains(t, err, want)
	}
	assert.ErrorContains(t, LabConfig{}.Validate(), "at least one subnet")
	assert.NoError(t, LabConfig{Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24"}}}.Validate())
}

func TestNodeSpecValidate(t *testing.T) {
	err := Spec{Name: "Node 1", InstanceType: "m5.huge", MaxPods: -1}.Validate()
	require.Error(t, err)
	assert.ErrorContains(t, err, `node name "Node 1"`)
	assert.ErrorContains(t, err, `unknown instance type`)
	assert.ErrorContains(t, err, "maxPods -1")
	assert.NoError(t, Spec{Name: "node-1", InstanceType: "m5.large"}.Validate())
}

func TestPodNames(t *testing.T) {
	n, i, err := datapath.ParsePodName("node-2/pod-17")
	assert.NoError(t, err)
	assert.Equal(t, "node-2", n)
	assert.Equal(t, 17, i)
	for _, bad := range []string{"node-2", "node-2/pod-0", "/pod-1", "node-2/p-1", "node-2/pod-x"} {
		_, _, err := datapath.ParsePodName(bad)
		assert.Error(t, err, bad)
	}
}

func TestEchoChecksum(t *testing.T) {
	b := echoRequest(0x1234, 7)
	// A message with its checksum in place sums to zero.
	assert.Equal(t, uint16(0), checksum(b))
	reply := append([]byte(nil), b...)
	reply[0] = 0
	assert.True(t, isEchoReply(reply, 0x1234))
	assert.False(t, isEchoReply(reply, 0x1235))
	assert.False(t, isEchoReply(b, 0x1234), "a request is not a reply")
}

func TestSweepRefusesShortPrefix(t *testing.T) {
	assert.ErrorContains(t, Sweep("en"), "too short")
}

func needRoot(t testing.TB) {
	t.Helper()
	if !nsutil.IsRoot() {
		t.Skip("needs root: network namespaces")
	}
}

// testPrefix is unique per test and process, inside the enlt-node- space.
func testPrefix(t testing.TB, tag string) string {
	return fmt.Sprintf("enlt-node-%s%04x", tag, os.Getpid()&0xffff)
}

// fabricLab is a lab whose nodes run without ipamd, so the tests drive
// fakeec2 by hand and look at links and packets only. clk nil is a scaled
// clock (a lab second is 10 ms).
func fabricLab(t *testing.T, tag string, hotplug time.Duration, clk clock.Clock) *Lab {
	t.Helper()
	return testLab(t, tag, LabConfig{
		Seed:         7,
		TimeScale:    0.01,
		Clock:        clk,
		Subnets:      []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"}},
		HotplugDelay: hotplug,
		Backend:      BackendVeth,
		noIPAMD:      true,
	})
}

// testLab is NewLab for a test (root needed): cfg's prefix comes from tag
// and is swept first; the lab is closed after the test, which fails if
// the lab left anything behind.
func testLab(t testing.TB, tag string, cfg LabConfig) *Lab {
	t.Helper()
	needRoot(t)
	prefix := testPrefix(t, tag)
	require.NoError(t, Sweep(prefix))
	cfg.Prefix = prefix
	l, err := NewLab(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, l.Close())
		left, err := Leftovers(prefix)
		assert.NoError(t, err)
		assert.Empty(t, left, "the lab left things behind")
	})
	return l
}

var xmlTag = regexp.MustCompile(`<(networkInterfaceId|attachmentId|privateIpAddress)>([^<]+)</`)

// ec2 calls the lab's EC2 endpoint and returns the first value of each
// tag of interest.
func ec2(t *testing.T, l *Lab, params map[string]string) map[string]string {
	t.Helper()
	form := url.Values{"Version": {"2016-11-15"}}
	for k, v := range params {
		form.Set(k, v)
	}
	resp, err := http.PostForm(l.EC2URL(), form)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", params["Action"], body)
	out := map[string]string{}
	for _, m := range xmlTag.FindAllStringSubmatch(string(body), -1) {
		if _, ok := out[m[1]]; !ok {
			out[m[1]] = m[2]
		}
	}
	return out
}

func linkByMAC(t *testing.T, nsPath, mac string) (netlink.Link, bool) {
	t.Helper()
	h, err := nsutil.Handle(nsPath)
	require.NoError(t, err)
	defer h.Close()
	links, err := nsutil.Retry(h.LinkList)
	require.NoError(t, err)
	for _, l := range links {
		if l.Attrs().HardwareAddr.String() == mac {
			return l, true
		}
	}
	return nil, false
}

func TestPrimaryENIAndHotplug(t *testing.T) {
	// A fake clock: the hot-plug delay passes when the test says so, not
	// when a loaded (or emulated) CPU gets round to looking.
	clk := clock.NewFake(LabEpoch)
	l := fabricLab(t, "hp", 2*time.Second, clk)
	ctx := context.Background()
	n, err := l.AddNode(ctx, Spec{Name: "node-1", InstanceType: "m5.large"})
	require.NoError(t, err)
	inst, ok := l.EC2().Instance(n.InstanceID())
	require.True(t, ok)

	eth0, ok := linkByMAC(t, n.NetNS(), inst.ENIs[0].MAC)
	require.True(t, ok, "eth0 carries the primary ENI's MAC")
	assert.Equal(t, "eth0", eth0.Attrs().Name)
	h, err := nsutil.Handle(n.NetNS())
	require.NoError(t, err)
	defer h.Close()
	addrs, err := h.AddrList(eth0, unix.AF_INET)
	require.NoError(t, err)
	require.Len(t, addrs, 1)
	assert.Equal(t, inst.PrimaryIP.String(), addrs[0].IP.String())

	waiters := clk.Waiters()
	created := ec2(t, l, map[string]string{"Action": "CreateNetworkInterface", "SubnetId": "subnet-a", "SecondaryPrivateIpAddressCount": "2"})
	eniID := created["networkInterfaceId"]
	require.NotEmpty(t, eniID)
	att := ec2(t, l, map[string]string{"Action": "AttachNetworkInterface", "NetworkInterfaceId": eniID, "InstanceId": n.InstanceID(), "DeviceIndex": "1"})
	eni, _ := l.EC2().ENI(eniID)
	require.Eventually(t, func() bool { return clk.Waiters() > waiters }, 5*time.Second, time.Millisecond, "the node waits out the hot-plug delay")
	clk.Advance(time.Second)
	require.Never(t, func() bool { _, ok := linkByMAC(t, n.NetNS(), eni.MAC); return ok }, 200*time.Millisecond, 10*time.Millisecond,
		"no link while the hot-plug delay runs")
	clk.Advance(time.Second)
	require.Eventually(t, func() bool { _, ok := linkByMAC(t, n.NetNS(), eni.MAC); return ok }, 5*time.Second, 10*time.Millisecond,
		"the link appears once the hot-plug delay has passed")
	eth1, _ := linkByMAC(t, n.NetNS(), eni.MAC)
	assert.Equal(t, "eth1", eth1.Attrs().Name)

	ec2(t, l, map[string]string{"Action": "DetachNetworkInterface", "AttachmentId": att["attachmentId"]})
	require.Eventually(t, func() bool { _, ok := linkByMAC(t, n.NetNS(), eni.MAC); return !ok }, 5*time.Second, 10*time.Millisecond,
		"detach removes the link")
}

// TestVPCSourceCheck sends real packets between two nodes through the VPC
// namespace: a source EC2 assigned to the sending ENI gets through, one it
// did not is dropped, and the fabric follows assign/unassign.
func TestVPCSourceCheck(t *testing.T) {
	l := fabricLab(t, "sc", 0, nil)
	ctx := context.Background()
	n1, err := l.AddNode(ctx, Spec{Name: "node-1", InstanceType: "m5.large"})
	require.NoError(t, err)
	n2, err := l.AddNode(ctx, Spec{Name: "node-2", InstanceType: "m5.large"})
	require.NoError(t, err)
	i1, _ := l.EC2().Instance(n1.InstanceID())
	i2, _ := l.EC2().Instance(n2.InstanceID())

	require.NoError(t, PingFrom(ctx, n1.NetNS(), i2.PrimaryIP), "primary to primary through the VPC")

	// An address the node uses but EC2 never assigned to its ENI.
	spoof := netip.MustParseAddr("10.0.1.200")
	addLocal(t, n1.NetNS(), spoof)
	err = pingFromSource(ctx, n1.NetNS(), spoof, i2.PrimaryIP)
	require.ErrorIs(t, err, ErrNoReply, "the VPC drops a source not assigned to the ENI")

	ec2(t, l, map[string]string{"Action": "AssignPrivateIpAddresses", "NetworkInterfaceId": i1.ENIs[0].ID, "PrivateIpAddress.1": spoof.String()})
	require.Eventually(t, func() bool { return pingFromSource(ctx, n1.NetNS(), spoof, i2.PrimaryIP) == nil }, 5*time.Second, 50*time.Millisecond,
		"once EC2 assigns it, the address is routed and passes the source check")

	ec2(t, l, map[string]string{"Action": "UnassignPrivateIpAddresses", "NetworkInterfaceId": i1.ENIs[0].ID, "PrivateIpAddress.1": spoof.String()})
	require.Eventually(t, func() bool { return pingFromSource(ctx, n1.NetNS(), spoof, i2.PrimaryIP) != nil }, 10*time.Second, 50*time.Millisecond,
		"unassigning takes the route away again")

	// SourceDestCheck=false (a NAT instance) lifts the check on that ENI's
	// peer only; true restores it.
	ec2(t, l, map[string]string{"Action": "ModifyNetworkInterfaceAttribute", "NetworkInterfaceId": i1.ENIs[0].ID, "SourceDestCheck.Value": "false"})
	require.Eventually(t, func() bool { return uncheckedPeers(t, l) == 1 }, 5*time.Second, 50*time.Millisecond)
	ec2(t, l, map[string]string{"Action": "ModifyNetworkInterfaceAttribute", "NetworkInterfaceId": i1.ENIs[0].ID, "SourceDestCheck.Value": "true"})
	require.Eventually(t, func() bool { return uncheckedPeers(t, l) == 0 }, 5*time.Second, 50*time.Millisecond)
}

// uncheckedPeers counts the ENI peers in the VPC namespace without the
// source check (rp_filter 0).
func uncheckedPeers(t *testing.T, l *Lab) int {
	t.Helper()
	n := 0
	require.NoError(t, nsutil.Do(l.VPCNetNS(), func() error {
		dirs, err := os.ReadDir("/proc/sys/net/ipv4/conf")
		if err != nil {
			return err
		}
		for _, d := range dirs {
			if !regexp.MustCompile(`^n\d+x\d+$`).MatchString(d.Name()) {
				continue
			}
			b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + d.Name() + "/rp_filter")
			if err != nil {
				return err
			}
			if strings.TrimSpace(string(b)) == "0" {
				n++
			}
		}
		return nil
	}))
	return n
}

func addLocal(t *testing.T, nsPath string, a netip.Addr) {
	t.Helper()
	h, err := nsutil.Handle(nsPath)
	require.NoError(t, err)
	defer h.Close()
	lo, err := h.LinkByName("lo")
	require.NoError(t, err)
	require.NoError(t, h.AddrAdd(lo, &netlink.Addr{IPNet: kernel.HostNet(a)}))
}

// pingFromSource is PingFrom with the echo's source address pinned.
func pingFromSource(ctx context.Context, nsPath string, src, dst netip.Addr) error {
	var conn net.PacketConn
	if err := nsutil.Do(nsPath, func() error {
		var err error
		conn, err = net.ListenPacket("ip4:icmp", src.String())
		return err
	}); err != nil {
		return err
	}
	defer conn.Close()
	to := &net.IPAddr{IP: net.IP(dst.AsSlice())}
	if _, err := conn.WriteTo(echoRequest(0x4242, 1), to); err != nil {
		return err
	}
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if strings.Contains(err.Error(), "timeout") {
				return ErrNoReply
			}
			return err
		}
		if a, ok := from.(*net.IPAddr); ok && a.IP.Equal(to.IP) && isEchoReply(buf[:n], 0x4242) {
			return nil
		}
	}
}

func TestEndpointsInsideNode(t *testing.T) {
	l := fabricLab(t, "ep", 0, nil)
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "c5.large"})
	require.NoError(t, err)
	client := n.HTTPClient()
	req, _ := http.NewRequest(http.MethodPut, "http://169.254.169.254/latest/api/token", nil)
	req.Header.Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "60")
	resp, err := client.Do(req)
	require.NoError(t, err)
	tok, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	req, _ = http.NewRequest(http.MethodGet, "http://169.254.169.254/latest/meta-data/instance-id", nil)
	req.Header.Set("X-Aws-Ec2-Metadata-Token", string(tok))
	resp, err = client.Do(req)
	require.NoError(t, err)
	id, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, n.InstanceID(), string(id), "IMDS inside the node namespace is this instance's")

	resp, err = client.PostForm(EC2Endpoint, url.Values{"Action": {"DescribeNetworkInterfaces"}, "Version": {"2016-11-15"}})
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), n.InstanceID(), "the EC2 endpoint answers inside the namespace")
}

func TestBackendChoice(t *testing.T) {
	needRoot(t)
	base := LabConfig{Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24"}}, noIPAMD: true}

	t.Setenv(BackendEnv, "tap")
	cfg := base
	cfg.Prefix = testPrefix(t, "be")
	_, err := NewLab(context.Background(), cfg)
	require.ErrorContains(t, err, BackendEnv+`="tap"`)
	left, _ := Leftovers(cfg.Prefix)
	assert.Empty(t, left, "a lab that fails to start removes what it made")

	t.Setenv(BackendEnv, BackendDummy)
	l, err := NewLab(context.Background(), cfg)
	if err != nil {
		// This kernel has no dummy links: the error says so.
		assert.ErrorContains(t, err, "dummy backend unavailable")
	} else {
		assert.Equal(t, BackendDummy, l.Backend())
		n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "m5.large"})
		require.NoError(t, err)
		inst, _ := l.EC2().Instance(n.InstanceID())
		link, ok := linkByMAC(t, n.NetNS(), inst.ENIs[0].MAC)
		require.True(t, ok)
		assert.Equal(t, "dummy", link.Type())
		require.NoError(t, l.Close())
	}

	cfg.Backend = BackendVeth // an explicit choice beats the environment
	l, err = NewLab(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, BackendVeth, l.Backend())
	require.NoError(t, l.Close())
	left, _ = Leftovers(cfg.Prefix)
	assert.Empty(t, left)
}

func TestCancelledContextTearsDown(t *testing.T) {
	needRoot(t)
	prefix := testPrefix(t, "cx")
	ctx, cancel := context.WithCancel(context.Background())
	l, err := NewLab(ctx, LabConfig{Prefix: prefix, TimeScale: 0.01, Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24"}}, noIPAMD: true})
	require.NoError(t, err)
	_, err = l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "m5.large"})
	require.NoError(t, err)
	left, _ := Leftovers(prefix)
	require.NotEmpty(t, left)
	cancel() // as signal.NotifyContext does on SIGINT
	require.Eventually(t, func() bool { left, _ := Leftovers(prefix); return len(left) == 0 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, l.Close(), "Close after the teardown is a no-op")
	_, err = l.AddNode(context.Background(), Spec{Name: "node-2", InstanceType: "m5.large"})
	assert.ErrorContains(t, err, "closed")
}

func TestSweepRemovesLeftovers(t *testing.T) {
	needRoot(t)
	prefix := testPrefix(t, "sw")
	_, err := nsutil.NewNamed(prefix + "-vpc")
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", tempPrefix(prefix))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ipamd.sock"), nil, 0o600))
	want := 3
	if runBase() != "" {
		run, err := os.MkdirTemp(runBase(), tempPrefix(prefix))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(run, "ipam.json"), nil, 0o600))
		want++
	}
	left, err := Leftovers(prefix)
	require.NoError(t, err)
	assert.Len(t, left, want, "namespace, its mount, the temp dir and the run dir on the tmpfs (if any): %v", left)
	require.NoError(t, Sweep(prefix))
	left, err = Leftovers(prefix)
	require.NoError(t, err)
	assert.Empty(t, left)
}

// TestENIConfigSecurityGroups: the groups ENIConfigs name (by id, as in a
// scenario's `securityGroups: [sg-1]`) exist in the lab's VPC, so an ENI
// ipamd creates for custom networking can carry them; a name that is not a
// group id is refused up front.
func TestENIConfigSecurityGroups(t *testing.T) {
	needRoot(t)
	prefix := testPrefix(t, "sg")
	require.NoError(t, Sweep(prefix))
	cfg := LabConfig{
		Prefix: prefix,
		VPC:    VPCSpec{CIDR: "10.0.0.0/16", SecondaryCIDRs: []string{"100.64.0.0/16"}},
		Subnets: []SubnetSpec{
			{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"},
			{ID: "subnet-pods", CIDR: "100.64.0.0/19", AZ: "us-west-2a"},
			{ID: "subnet-pods-b", CIDR: "100.64.32.0/19", AZ: "us-west-2b"},
		},
		ENIConfigs: []config.ENIConfig{
			{Name: "us-west-2a", Subnet: "subnet-pods", SecurityGroups: []string{"sg-1", "sg-2"}},
			{Name: "us-west-2b", Subnet: "subnet-pods-b", SecurityGroups: []string{"sg-1"}},
		},
		noIPAMD: true,
	}
	l, err := NewLab(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, l.Close())
		left, err := Leftovers(prefix)
		assert.NoError(t, err)
		assert.Empty(t, left)
	})
	created := ec2(t, l, map[string]string{"Action": "CreateNetworkInterface", "SubnetId": "subnet-pods",
		"SecurityGroupId.1": "sg-1", "SecurityGroupId.2": "sg-2"})
	eni, ok := l.EC2().ENI(created["networkInterfaceId"])
	require.True(t, ok)
	assert.ElementsMatch(t, []string{"sg-1", "sg-2"}, eni.SecurityGroups)

	bad := cfg
	bad.ENIConfigs = []config.ENIConfig{{Name: "us-west-2a", Subnet: "subnet-pods", SecurityGroups: []string{"pods", "sg-"}}}
	err = bad.Validate()
	assert.ErrorContains(t, err, `security group "pods": want a group id such as sg-1`)
	assert.ErrorContains(t, err, `security group "sg-"`)
}

// panicHandler is a slog handler that panics on the record whose message is
// on: a way to make NewLab or AddNode panic at their last step, with
// everything built, without a hook in the code.
type panicHandler struct{ on *atomic.Value }

func (h panicHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h panicHandler) Handle(_ context.Context, r slog.Record) error {
	if on, _ := h.on.Load().(string); r.Message == on {
		panic("injected panic at " + on)
	}
	return nil
}
func (h panicHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h panicHandler) WithGroup(string) slog.Handler      { return h }

// TestPanicTearsDown: a panic passing through NewLab or AddNode removes
// what they built, as an error return does.
func TestPanicTearsDown(t *testing.T) {
	needRoot(t)
	prefix := testPrefix(t, "pn")
	require.NoError(t, Sweep(prefix))
	on := &atomic.Value{}
	cfg := LabConfig{Prefix: prefix, TimeScale: 0.01, Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24"}},
		Backend: BackendVeth, noIPAMD: true, Logger: slog.New(panicHandler{on})}

	on.Store("lab up")
	require.PanicsWithValue(t, "injected panic at lab up", func() { _, _ = NewLab(context.Background(), cfg) })
	left, err := Leftovers(prefix)
	require.NoError(t, err)
	assert.Empty(t, left, "a lab that panics while starting removes what it made")

	on.Store("node up")
	l, err := NewLab(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	require.PanicsWithValue(t, "injected panic at node up", func() {
		_, _ = l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "m5.large"})
	})
	assert.Empty(t, l.Nodes(), "the node is not in the lab")
	names, err := nsutil.ListNamed(prefix + "-node-1")
	require.NoError(t, err)
	assert.Empty(t, names, "nor its namespace")
	for _, e := range l.EC2().ENIs() {
		assert.NotEqual(t, "in-use", e.Status, "ENI %s is still attached to %s: the instance was not terminated", e.ID, e.InstanceID)
	}
	on.Store("")
	require.NoError(t, l.Close())
	left, err = Leftovers(prefix)
	require.NoError(t, err)
	assert.Empty(t, left)
}

// TestSweepStale: what an earlier run left is removed, what a run going on
// now holds is not.
func TestSweepStale(t *testing.T) {
	needRoot(t)
	family := testPrefix(t, "st") + "-"
	t.Cleanup(func() { _ = SweepStale(family, 0) })
	_, err := nsutil.NewNamed(family + "now-vpc")
	require.NoError(t, err)
	fresh, err := os.MkdirTemp("", tempPrefix(family+"now"))
	require.NoError(t, err)
	old, err := os.MkdirTemp("", tempPrefix(family+"old"))
	require.NoError(t, err)
	hourAgo := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(old, hourAgo, hourAgo))

	require.NoError(t, SweepStale(family, 10*time.Minute))
	assert.NoDirExists(t, old, "a lab directory from an hour ago goes")
	assert.DirExists(t, fresh, "a current one stays")
	names, err := nsutil.ListNamed(family)
	require.NoError(t, err)
	assert.Equal(t, []string{family + "now-vpc"}, names, "a current namespace stays")

	require.NoError(t, SweepStale(family, 0))
	assert.NoDirExists(t, fresh)
	names, err = nsutil.ListNamed(family)
	require.NoError(t, err)
	assert.Empty(t, names)
	assert.ErrorContains(t, SweepStale("en", time.Hour), "too short")
}
