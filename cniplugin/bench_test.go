package cniplugin

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/gobuild"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/rpc"
)

// Benchmarks of the plugin on a namespace-backed node with a warm pool
// (real ipamd), and the floor: the same netlink operations issued
// in-process, without exec or gRPC. Run:
//
//	go test -run '^$' -bench . -benchtime 20x ./cniplugin/

// benchPods makes count pod namespaces and returns their names, paths and a
// function that removes them.
func benchPods(b *testing.B, n *testNode, count int) ([]string, []string, func()) {
	b.Helper()
	names := make([]string, count)
	paths := make([]string, count)
	for i := range count {
		n.pods++
		names[i] = fmt.Sprintf("pod-%d", n.pods)
		p, err := nsutil.NewNamed(n.base + "-" + names[i])
		require.NoError(b, err)
		paths[i] = p
	}
	return names, paths, func() {
		for _, name := range names {
			_ = nsutil.DeleteNamed(n.base + "-" + name)
		}
	}
}

// benchNode is a node run by the real ipamd (in-process, fakeec2 behind it)
// on an m5.4xlarge whose pool is held at 120 addresses (MINIMUM_IP_TARGET,
// WARM_IP_TARGET=1: no growth or shrink while the benchmark runs), and whose
// plugin is the real cmd/aws-cni binary (the test binary is larger and
// slower to exec), built once.
func benchNode(b *testing.B) (*testNode, *libcni.NetworkConfigList) {
	n := newIPAMDNode(b, "m5.4xlarge", map[string]string{
		"MINIMUM_IP_TARGET": "120", "WARM_IP_TARGET": "1", "IP_COOLDOWN_PERIOD": "0",
	})
	waitFor(b, "a warm pool of 120 addresses", func() bool { return n.d.Status().WarmIPs >= 120 })
	bin := filepath.Join(n.binDir, ExecName)
	require.NoError(b, os.Remove(bin))
	require.NoError(b, gobuild.Command(bin, "../cmd/aws-cni"))
	return n.testNode, n.confList(b, "1.1.0", nil)
}

func BenchmarkADD(b *testing.B) {
	n, list := benchNode(b)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		names, paths, done := benchPods(b, n, 1)
		rt := runtimeConf(names[0], paths[0])
		b.StartTimer()
		_, err := n.add(list, rt)
		b.StopTimer()
		require.NoError(b, err)
		require.NoError(b, n.del(list, rt))
		done()
		b.StartTimer()
	}
}

func BenchmarkDEL(b *testing.B) {
	n, list := benchNode(b)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		names, paths, done := benchPods(b, n, 1)
		rt := runtimeConf(names[0], paths[0])
		_, err := n.add(list, rt)
		require.NoError(b, err)
		b.StartTimer()
		err = n.del(list, rt)
		b.StopTimer()
		require.NoError(b, err)
		done()
		b.StartTimer()
	}
}

// benchConcurrent: count ADDs start at once; the time is until all returned.
func benchConcurrent(b *testing.B, count int) {
	n, list := benchNode(b)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		names, paths, done := benchPods(b, n, count)
		rts := make([]*libcni.RuntimeConf, count)
		for i := range rts {
			rts[i] = runtimeConf(names[i], paths[i])
		}
		errs := make([]error, count)
		var wg sync.WaitGroup
		b.StartTimer()
		for i := range count {
			wg.Go(func() { _, errs[i] = n.add(list, rts[i]) })
		}
		wg.Wait()
		b.StopTimer()
		for i := range count {
			require.NoError(b, errs[i])
		}
		for i := range count {
			wg.Go(func() { errs[i] = n.del(list, rts[i]) })
		}
		wg.Wait()
		for i := range count {
			require.NoError(b, errs[i])
		}
		done()
		b.StartTimer()
	}
}

func BenchmarkConcurrentADD30(b *testing.B)  { benchConcurrent(b, 30) }
func BenchmarkConcurrentADD100(b *testing.B) { benchConcurrent(b, 100) }

// floorHost is a hostSide bound to the node namespace (not the test
// process's), so wire/unwire run in-process exactly as the plugin runs them.
func floorHost(b *testing.B, n *testNode) *hostSide {
	h, err := nsutil.Handle(n.ns)
	require.NoError(b, err)
	f, err := os.Open(n.ns)
	require.NoError(b, err)
	s := &hostSide{h: h, ns: f}
	b.Cleanup(s.Close)
	return s
}

func floorAttachment(name, path string, i int) Attachment {
	ip := netip.AddrFrom4([4]byte{10, 0, 2, byte(1 + i%250)})
	return Attachment{HostVeth: datapath.HostVethName("eni", "default", name), IfName: "eth0", Netns: path, IP: ip, MTU: 9001}
}

func noHook(string) error { return nil }

// floorPhase is the part of a pod's life a floor benchmark times.
type floorPhase int

const (
	phaseWire     floorPhase = iota // everything ADD builds
	phaseUnroute                    // what DEL removes: the host route and the rules
	phaseVethDown                   // the kernel's veth delete (the runtime's, with the netns)
)

// benchFloor times one phase for count pods at once; the other phases run
// with the timer stopped.
func benchFloor(b *testing.B, count int, phase floorPhase) {
	n := newTestNode(b)
	host := floorHost(b, n)
	timed := func(p floorPhase, fn func(i int) error) {
		errs := make([]error, count)
		var wg sync.WaitGroup
		if p == phase {
			b.StartTimer()
		}
		for i := range count {
			wg.Go(func() { errs[i] = fn(i) })
		}
		wg.Wait()
		b.StopTimer()
		for i := range count {
			require.NoError(b, errs[i])
		}
	}
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		names, paths, done := benchPods(b, n, count)
		as := make([]Attachment, count)
		for i := range as {
			as[i] = floorAttachment(names[i], paths[i], i)
		}
		timed(phaseWire, func(i int) error { return host.wire(&as[i], eni1Table, noHook) })
		timed(phaseUnroute, func(i int) error { return host.unroute(as[i]) })
		timed(phaseVethDown, func(i int) error { as[i].IP = netip.Addr{}; return host.unwire(as[i]) })
		done()
	}
}

func BenchmarkFloorADD(b *testing.B)              { benchFloor(b, 1, phaseWire) }
func BenchmarkFloorConcurrentADD30(b *testing.B)  { benchFloor(b, 30, phaseWire) }
func BenchmarkFloorConcurrentADD100(b *testing.B) { benchFloor(b, 100, phaseWire) }

// BenchmarkFloorDEL is the netlink work of DEL issued in-process: the pod's
// host route and rules (DEL leaves the veth to the runtime's netns removal).
func BenchmarkFloorDEL(b *testing.B) { benchFloor(b, 1, phaseUnroute) }

// BenchmarkFloorVethDelete is the kernel's veth delete, which the runtime
// pays when it removes the pod's netns: not part of DEL, shown beside it.
func BenchmarkFloorVethDelete(b *testing.B) { benchFloor(b, 1, phaseVethDown) }

// minimalPlugin builds testdata/minimal, the least a Go program can do as
// a CNI plugin (answer VERSION), into dir as aws-cni.
func minimalPlugin(b *testing.B, dir string) {
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, ExecName), "./testdata/minimal").CombinedOutput()
	require.NoError(b, err, "build testdata/minimal: %s", out)
}

// BenchmarkExecMinimal is the exec floor: libcni executing a minimal Go
// program for VERSION (runtime start, no package of the plugin's).
func BenchmarkExecMinimal(b *testing.B) {
	dir := b.TempDir()
	minimalPlugin(b, dir)
	cni := libcni.NewCNIConfigWithCacheDir([]string{dir}, b.TempDir(), nil)
	b.ResetTimer()
	for range b.N {
		if _, err := cni.GetVersionInfo(b.Context(), ExecName); err != nil {
			b.Fatal(err)
		}
	}
}

// benchExecMinimalConcurrent: count minimal execs at once.
func benchExecMinimalConcurrent(b *testing.B, count int) {
	dir := b.TempDir()
	minimalPlugin(b, dir)
	cni := libcni.NewCNIConfigWithCacheDir([]string{dir}, b.TempDir(), nil)
	b.ResetTimer()
	for range b.N {
		errs := make([]error, count)
		var wg sync.WaitGroup
		for i := range count {
			wg.Go(func() { _, errs[i] = cni.GetVersionInfo(b.Context(), ExecName) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(b, err)
		}
	}
}

func BenchmarkExecMinimalConcurrent30(b *testing.B)  { benchExecMinimalConcurrent(b, 30) }
func BenchmarkExecMinimalConcurrent100(b *testing.B) { benchExecMinimalConcurrent(b, 100) }

// BenchmarkExecVERSION is the fixed cost of starting the plugin binary at
// all (libcni exec + Go runtime start + VERSION): the part of ADD that is
// neither netlink nor ipamd.
func BenchmarkExecVERSION(b *testing.B) {
	n, _ := benchNode(b)
	b.ResetTimer()
	for range b.N {
		if _, err := n.cni.GetVersionInfo(b.Context(), ExecName); err != nil {
			b.Fatal(err)
		}
	}
}

// benchIPAMD is ipamd's share of ADD (or, with del, of DEL): count
// AddNetwork (DelNetwork) calls at once over the unix socket, each on its
// own connection as each plugin process has, with ipamd's checkpoint
// write; no exec and no netlink.
func benchIPAMD(b *testing.B, count int, del bool) {
	n, _ := benchNode(b)
	seq := 0
	all := func(fn func(i int) error) {
		errs := make([]error, count)
		var wg sync.WaitGroup
		for i := range count {
			wg.Go(func() { errs[i] = fn(seq + i) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(b, err)
		}
	}
	// Each call dials as a plugin process does: a connection of its own.
	call := func(fn func(be backend) error) error {
		be, err := dialIPAMD(n.socket)
		if err != nil {
			return err
		}
		defer be.Close()
		return fn(be)
	}
	add := func(i int) error {
		return call(func(be backend) error {
			reply, err := be.AddNetwork(b.Context(), &rpc.AddNetworkRequest{K8S_POD_NAME: fmt.Sprintf("p%d", i), K8S_POD_NAMESPACE: "default",
				ContainerID: fmt.Sprintf("c%d", i), IfName: "eth0", NetworkName: n.network, ClientVersion: rpc.Version})
			if err == nil && !reply.GetSuccess() {
				err = fmt.Errorf("no address for p%d", i)
			}
			return err
		})
	}
	release := func(i int) error {
		return call(func(be backend) error {
			_, err := be.DelNetwork(b.Context(), &rpc.DelNetworkRequest{K8S_POD_NAME: fmt.Sprintf("p%d", i), K8S_POD_NAMESPACE: "default",
				ContainerID: fmt.Sprintf("c%d", i), IfName: "eth0", NetworkName: n.network, ClientVersion: rpc.Version, Reason: ReasonPodDeleted})
			return err
		})
	}
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		if !del {
			b.StartTimer()
		}
		all(add)
		b.StopTimer()
		if del {
			b.StartTimer()
		}
		all(release)
		b.StopTimer()
		seq += count
	}
}

func BenchmarkIPAMDAddNetwork(b *testing.B)              { benchIPAMD(b, 1, false) }
func BenchmarkIPAMDDelNetwork(b *testing.B)              { benchIPAMD(b, 1, true) }
func BenchmarkIPAMDAddNetworkConcurrent30(b *testing.B)  { benchIPAMD(b, 30, false) }
func BenchmarkIPAMDAddNetworkConcurrent100(b *testing.B) { benchIPAMD(b, 100, false) }

// BenchmarkParseConfig is the configuration's share of a command (the
// plugin parses it three times: before skel, in the command, for its log).
func BenchmarkParseConfig(b *testing.B) {
	conf := []byte(`{"cniVersion":"1.1.0","name":"aws-cni","type":"aws-cni","mtu":"9001","vethPrefix":"eni",` +
		`"pluginLogFile":"/var/log/aws-routed-eni/plugin.log","pluginLogLevel":"DEBUG","ipamdSocket":"/var/run/aws-node/ipamd.sock"}`)
	for b.Loop() {
		if _, err := ParseConfig(conf); err != nil {
			b.Fatal(err)
		}
	}
}
