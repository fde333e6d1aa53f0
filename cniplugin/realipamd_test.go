package cniplugin

import (
	"context"
	"github.com/enilab/enilab/internal/vmenv"
	"github.com/enilab/enilab/ipamd/config"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/ipamd"
)

// ipamdNode is a test node whose ENIs come from fakeec2 (hot-plugged into
// the node namespace as EC2 attaches them) and whose address manager is the
// real ipamd, in-process, doing its node networking through netsetup.
type ipamdNode struct {
	*testNode
	ec2  *fakeec2.Server
	inst fakeec2.Instance
	d    *ipamd.Daemon
}

func newIPAMDNode(t testing.TB, instanceType string, env map[string]string) *ipamdNode {
	t.Helper()
	n := &ipamdNode{testNode: newBareNode(t)}
	clk := clock.NewScaled(0.02*slowdown(), time.Now()) // ipamd's 5 s pool check runs every 100 ms
	var err error
	n.ec2, err = fakeec2.New(fakeec2.Config{Seed: 11, Clock: clk})
	require.NoError(t, err)
	t.Cleanup(func() { n.ec2.Close() })
	ec2HTTP := httptest.NewServer(n.ec2)
	t.Cleanup(ec2HTTP.Close)
	vpc, err := n.ec2.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
	require.NoError(t, err)
	sn, err := n.ec2.CreateSubnet(fakeec2.SubnetSpec{ID: "subnet-a", VPCID: vpc.ID, CIDR: "10.0.1.0/24", AZ: "us-west-2a"})
	require.NoError(t, err)
	sg, err := n.ec2.CreateSecurityGroup("nodes", vpc.ID)
	require.NoError(t, err)

	// Hot-plug: every ENI EC2 attaches to the instance appears as a link.
	events, stopWatch := n.ec2.Watch()
	var wg sync.WaitGroup
	var instID string
	var mu sync.Mutex
	ready := make(chan struct{})
	wg.Go(func() {
		<-ready
		for ev := range events {
			mu.Lock()
			mine := ev.InstanceID == instID
			mu.Unlock()
			if !mine || ev.ENI.DeviceIndex == 0 {
				continue
			}
			switch ev.Kind {
			case fakeec2.ENIAttached:
				if err := n.plugENI(ev.ENI.DeviceIndex, ev.ENI.MAC); err != nil {
					t.Logf("hot-plug %s: %v", ev.ENI.ID, err)
				}
			case fakeec2.ENIDetached:
				if l, err := n.h.LinkByName("eth" + itoa(ev.ENI.DeviceIndex)); err == nil {
					_ = n.h.LinkDel(l)
				}
			}
		}
	})
	t.Cleanup(func() { stopWatch(); wg.Wait() })

	n.inst, err = n.ec2.RunInstance(fakeec2.InstanceSpec{Type: instanceType, SubnetID: sn.ID, SecurityGroups: []string{sg}})
	require.NoError(t, err)
	mu.Lock()
	instID = n.inst.ID
	mu.Unlock()
	close(ready)
	imds := httptest.NewServer(n.ec2.IMDS(n.inst.ID))
	t.Cleanup(imds.Close)

	// The primary ENI is the instance's own eth0.
	n.addENILink(t, 0, n.inst.ENIs[0].MAC)
	eth0, err := n.h.LinkByName("eth0")
	require.NoError(t, err)
	require.NoError(t, n.h.AddrAdd(eth0, addrOf(netip.PrefixFrom(n.inst.PrimaryIP, 24))))
	require.NoError(t, n.h.RouteAdd(defaultVia(eth0.Attrs().Index, "10.0.1.1")))

	logs := &syncBuf{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ipamd log:\n%s", logs.String())
		}
	})
	cfg, err := config.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	n.d, err = ipamd.New(context.Background(), cfg, ipamd.Options{
		Clock: clk, EC2Endpoint: ec2HTTP.URL, IMDSEndpoint: imds.URL,
		SocketPath: n.socket, CheckpointPath: filepath.Join(n.runDir, "ipam.json"),
		IntrospectionAddr: ipamd.Off, MetricsAddr: ipamd.Off, NetNSPath: n.ns,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	t.Cleanup(func() { n.d.Close() })
	return n
}

type syncBuf struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// slowdown is how much slower than a real CPU the tests run: 10 under
// software emulation (the VM runner's ENILAB_VM_ACCEL=tcg; docs/VM.md),
// else 1. It stretches the lab clock, so ipamd's lab-time timeouts leave
// room for the same work, and the waits with it.
func slowdown() float64 {
	if vmenv.Emulated() {
		return 10
	}
	return 1
}

// waitFor polls cond (a wait for the pool to fill, not a timed assertion).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Duration(slowdown() * float64(30*time.Second)))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deviceOf is the device index of the ENI EC2 says holds ip.
func (n *ipamdNode) deviceOf(ip netip.Addr) int {
	inst, _ := n.ec2.Instance(n.inst.ID)
	for _, e := range inst.ENIs {
		if e.PrimaryIP == ip || slices.Contains(e.SecondaryIPs, ip) {
			return e.DeviceIndex
		}
	}
	return -1
}

// TestRealIPAMD is the acceptance run against the real ipamd and fakeec2: a
// t3.medium whose warm target needs a second ENI; pods on both ENIs are
// wired exactly, ping their gateway, pass CHECK, fail it naming the 1536
// rule, and DEL gives every address back; an injected failure leaves no
// assigned IP in ipamd.
func TestRealIPAMD(t *testing.T) {
	n := newIPAMDNode(t, "t3.medium", map[string]string{"WARM_IP_TARGET": "8", "IP_COOLDOWN_PERIOD": "0"})
	waitFor(t, "a second ENI and 8 warm IPs", func() bool {
		st := n.d.Status()
		return st.ENIs >= 2 && st.WarmIPs >= 8
	})
	inst, _ := n.ec2.Instance(n.inst.ID)
	require.GreaterOrEqual(t, len(inst.ENIs), 2)
	eni1 := inst.ENIs[1]
	// ipamd sets the secondary ENI up through netsetup (shortly after it
	// counts its addresses: they are not handed out before).
	waitFor(t, "ipamd's rule from the ENI's primary IP at 32765", func() bool {
		return n.countRules(t, kernel.ENIRule(eni1.PrimaryIP, datapath.ENITable(eni1.DeviceIndex))) == 1
	})
	assert.Equal(t, 1, n.countRules(t, kernel.FwmarkRule()), "fwmark rule prio 1024")

	versions := []string{"0.4.0", "1.0.0", "1.1.0"}
	type podRun struct {
		name, path string
		ip         netip.Addr
		device     int
		version    string
	}
	var pods []podRun
	sawSecondary, sawPrimary := false, false
	for i := 0; i < 8 && !(sawSecondary && sawPrimary && i >= 3); i++ {
		v := versions[i%len(versions)]
		name, path := n.newPod(t)
		res, err := n.add(n.confList(t, v, nil), runtimeConf(name, path))
		require.NoError(t, err, "ADD %s (%s)", name, v)
		r, err := types100.GetResult(res)
		require.NoError(t, err)
		ip, _ := netip.AddrFromSlice(r.IPs[0].Address.IP.To4())
		dev := n.deviceOf(ip)
		require.GreaterOrEqual(t, dev, 0, "EC2 knows %v", ip)
		sawSecondary = sawSecondary || dev > 0
		sawPrimary = sawPrimary || dev == 0
		pods = append(pods, podRun{name, path, ip, dev, v})
	}
	require.True(t, sawSecondary, "some pod got a secondary-ENI address")
	assert.Equal(t, len(pods), n.d.Status().AssignedIPs)

	for _, p := range pods {
		n.assertWired(t, p.path, p.name, p.ip, datapath.ENITable(p.device), 9001)
		require.NoError(t, ping(n.ns, p.ip), "the node reaches %s over its host route", p.name)
		require.NoError(t, n.check(n.confList(t, p.version, nil), runtimeConf(p.name, p.path)), "CHECK %s", p.name)
	}
	for _, p := range pods {
		if p.device > 0 {
			require.NoError(t, n.h.RuleDel(kernel.FromPodRule(p.ip, datapath.ENITable(p.device))))
			err := n.check(n.confList(t, p.version, nil), runtimeConf(p.name, p.path))
			require.Error(t, err)
			assert.Contains(t, err.Error(), `rule "from `+p.ip.String()+` lookup `+itoa(p.device+1)+`" (priority 1536) is missing`)
			break
		}
	}
	// GC: the runtime forgot the first pod (no cache entry, not valid);
	// the plugin's GC gives its address back to ipamd and unwires it.
	before := n.d.Status().AssignedIPs
	gone := pods[0]
	require.NoError(t, os.Remove(filepath.Join(n.cacheDir, "results", n.network+"-"+runtimeConf(gone.name, gone.path).ContainerID+"-eth0")))
	var valid []types.GCAttachment
	for _, p := range pods[1:] {
		valid = append(valid, types.GCAttachment{ContainerID: runtimeConf(p.name, p.path).ContainerID, IfName: "eth0"})
	}
	require.NoError(t, n.inNode(func() error {
		return n.cni.GCNetworkList(t.Context(), n.confList(t, "1.1.0", nil), &libcni.GCArgs{ValidAttachments: valid})
	}))
	assert.Equal(t, before-1, n.d.Status().AssignedIPs, "GC released the forgotten pod's address")
	n.assertClean(t, gone.path, gone.name, gone.ip)

	// DEL everything (the GC'd pod too: ipamd no longer knows it — success).
	for _, p := range pods {
		require.NoError(t, n.del(n.confList(t, p.version, nil), runtimeConf(p.name, p.path)))
		n.assertTornDown(t, p.path, p.name, p.ip)
	}
	assert.Zero(t, n.d.Status().AssignedIPs, "ipamd holds no address after DEL")

	// A failure after ipamd assigned the address gives it back.
	t.Setenv(TestFailEnv, "host")
	name, path := n.newPod(t)
	_, err := n.add(n.confList(t, "1.1.0", nil), runtimeConf(name, path))
	require.Error(t, err)
	assert.Equal(t, int(ErrSetupFailed), cniCode(err))
	assert.Zero(t, n.d.Status().AssignedIPs, "no assigned IP left behind")
	n.assertClean(t, path, name, netip.Addr{})
	var deleted []string
	for _, p := range pods {
		deleted = append(deleted, datapath.HostVethName("eni", "default", p.name))
	}
	n.assertNothingWired(t, deleted...)
}
