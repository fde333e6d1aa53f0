package ipamd

import (
	"bytes"
	"context"
	"fmt"
	"github.com/enilab/enilab/ipamd/config"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/ipamd/rpc"
)

// testLab is one fake EC2 (served over HTTP on 127.0.0.1 and reached
// through the SDK, exactly as in a lab) plus a fake clock.
type testLab struct {
	t       testing.TB
	clk     *clock.Fake
	ec2     *fakeec2.Server
	url     string
	vpc     fakeec2.VPC
	subnet  fakeec2.Subnet
	sg      string
	daemons []*Daemon
}

var labStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type labOption func(*fakeec2.Config)

func withInterceptor(ic fakeec2.Interceptor) labOption {
	return func(c *fakeec2.Config) { c.Interceptor = ic }
}

func newTestLab(t testing.TB, opts ...labOption) *testLab {
	t.Helper()
	clk := clock.NewFake(labStart)
	cfg := fakeec2.Config{Clock: clk, Seed: 7}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := fakeec2.New(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	l := &testLab{t: t, clk: clk, ec2: srv, url: hs.URL}
	t.Cleanup(func() {
		for _, d := range l.daemons {
			d.Close()
		}
		hs.Close()
		srv.Close()
	})
	l.vpc, err = srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16", SecondaryCIDRs: []string{"100.64.0.0/16"}})
	require.NoError(t, err)
	l.subnet, err = srv.CreateSubnet(fakeec2.SubnetSpec{ID: "subnet-a", VPCID: l.vpc.ID, CIDR: "10.0.0.0/20", AZ: "us-west-2a"})
	require.NoError(t, err)
	l.sg, err = srv.CreateSecurityGroup("nodes", l.vpc.ID)
	require.NoError(t, err)
	return l
}

// testNode is one instance with its IMDS and a directory for the socket
// and checkpoint, so a daemon can be restarted on the same state.
type testNode struct {
	lab      *testLab
	inst     fakeec2.Instance
	imdsURL  string
	dir      string
	env      map[string]string
	opts     Options
	d        *Daemon
	logs     *syncBuffer
	conn     *grpc.ClientConn
	client   rpc.CNIBackendClient
	nextPod  int
	podNames map[string]bool
}

type nodeSpec struct {
	Type   string
	Subnet string
	Env    map[string]string
	Modify func(*Options)
}

func (l *testLab) newNode(spec nodeSpec) *testNode {
	t := l.t
	t.Helper()
	if spec.Subnet == "" {
		spec.Subnet = l.subnet.ID
	}
	inst, err := l.ec2.RunInstance(fakeec2.InstanceSpec{Type: spec.Type, SubnetID: spec.Subnet, SecurityGroups: []string{l.sg}})
	require.NoError(t, err)
	ims := httptest.NewServer(l.ec2.IMDS(inst.ID))
	t.Cleanup(ims.Close)
	dir, err := os.MkdirTemp("", "ipamd")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &testNode{lab: l, inst: inst, imdsURL: ims.URL, dir: dir, env: spec.Env, logs: &syncBuffer{}, podNames: map[string]bool{}}
	n.opts = Options{
		Clock: l.clk, EC2Endpoint: l.url, IMDSEndpoint: ims.URL,
		SocketPath: filepath.Join(dir, "ipamd.sock"), CheckpointPath: filepath.Join(dir, "ipam.json"),
		IntrospectionAddr: Off, MetricsAddr: Off, NetNSPath: NoNetNS,
		Logger: slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if spec.Modify != nil {
		spec.Modify(&n.opts)
	}
	return n
}

// config reads the node's environment as the daemon's main would.
func (n *testNode) config() config.Config {
	cfg, err := config.FromEnv(func(k string) (string, bool) { v, ok := n.env[k]; return v, ok })
	require.NoError(n.lab.t, err)
	return cfg
}

// start runs a daemon (again) on the node's state and connects a client.
func (n *testNode) start() *Daemon {
	t := n.lab.t
	t.Helper()
	d, err := n.tryStart()
	require.NoError(t, err)
	return d
}

func (n *testNode) tryStart() (*Daemon, error) {
	d, err := n.lab.newDaemon(context.Background(), n.config(), n.opts)
	if err != nil {
		return nil, err
	}
	n.d = d
	n.lab.daemons = append(n.lab.daemons, d)
	conn, err := grpc.NewClient("unix://"+n.opts.SocketPath, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(n.lab.t, err)
	n.lab.t.Cleanup(func() { conn.Close() })
	n.conn, n.client = conn, rpc.NewCNIBackendClient(conn)
	n.lab.settle()
	return d, nil
}

// newDaemon runs New as upstream's start-up runs: it may wait in lab time
// (IMDS, EC2 retries, ENI attach) before it serves. While New has not
// returned, lab time moves on a second at a time whenever start-up is
// asleep in such a wait and every running daemon has settled, as it would
// on a node.
func (l *testLab) newDaemon(ctx context.Context, cfg config.Config, opts Options) (*Daemon, error) {
	var starting atomic.Pointer[Daemon]
	opts.starting = func(d *Daemon) { starting.Store(d) }
	type result struct {
		d   *Daemon
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := New(ctx, cfg, opts)
		done <- result{d, err}
	}()
	for stable := 0; ; {
		select {
		case r := <-done:
			return r.d, r.err
		case <-time.After(200 * time.Microsecond):
		}
		if d := starting.Load(); d == nil || d.sleepers.Load() == 0 {
			stable = 0
			continue
		}
		if stable++; stable < 2 {
			continue // asleep twice in a row: not a sleep about to end
		}
		stable = 0
		l.settle()
		l.clk.Advance(time.Second)
	}
}

// stop closes the daemon as a crash would look to EC2: whatever call is
// in flight is abandoned.
func (n *testNode) stop() {
	n.d.Close()
	n.conn.Close()
}

func (n *testNode) addReq(pod string) *rpc.AddNetworkRequest {
	return &rpc.AddNetworkRequest{
		K8S_POD_NAME: pod, K8S_POD_NAMESPACE: "default", K8S_POD_INFRA_CONTAINER_ID: "c-" + pod,
		ContainerID: "c-" + pod, IfName: "eth0", NetworkName: "aws-cni", Netns: "/var/run/netns/" + pod,
		ClientVersion: rpc.Version,
	}
}

// add sends AddNetwork for a new pod over the unix socket.
func (n *testNode) add() (string, *rpc.AddNetworkReply) {
	n.nextPod++
	pod := fmt.Sprintf("pod-%d", n.nextPod)
	return pod, n.addPod(pod)
}

func (n *testNode) addPod(pod string) *rpc.AddNetworkReply {
	t := n.lab.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := n.client.AddNetwork(ctx, n.addReq(pod))
	require.NoError(t, err)
	if r.Success {
		n.podNames[pod] = true
	}
	return r
}

// addOK adds count pods that must all get an address, letting lab time
// pass (as kubelet's retries would) while the pool grows.
func (n *testNode) addOK(count int) {
	t := n.lab.t
	t.Helper()
	for i := 0; i < count; i++ {
		n.nextPod++
		pod := fmt.Sprintf("pod-%d", n.nextPod)
		for waited := 0; ; waited++ {
			if r := n.addPod(pod); r.Success {
				break
			}
			if waited > 120 {
				t.Fatalf("AddNetwork for %s failed for 2 minutes of lab time; status %+v", pod, n.d.Status())
			}
			n.lab.clk.Advance(time.Second)
			n.lab.settle()
		}
	}
}

func (n *testNode) del(pod string) (*rpc.DelNetworkReply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	delete(n.podNames, pod)
	return n.client.DelNetwork(ctx, &rpc.DelNetworkRequest{
		K8S_POD_NAME: pod, K8S_POD_NAMESPACE: "default", K8S_POD_INFRA_CONTAINER_ID: "c-" + pod,
		ContainerID: "c-" + pod, IfName: "eth0", NetworkName: "aws-cni", Reason: "PodDeleted",
		ClientVersion: rpc.Version,
	})
}

// quiescent reports whether the pool manager has nothing left to do at
// the current fake time: waiting for its next tick, or asleep in a backoff.
func (d *Daemon) quiescent() bool {
	if d.sleepers.Load() > 0 {
		return true
	}
	return d.waiting.Load() && len(d.poolTick.C()) == 0 && len(d.leakTimer.C()) == 0 && len(d.cidrTick.C()) == 0 && len(d.sgTick.C()) == 0
}

// settle waits (real time) until every running daemon is quiescent.
func (l *testLab) settle() {
	deadline := time.Now().Add(10 * time.Second)
	for _, d := range l.daemons {
		if d.ctx.Err() != nil {
			continue
		}
		for stable := 0; stable < 2; {
			if time.Now().After(deadline) {
				l.t.Fatalf("daemon %s did not settle", d.identity.InstanceID)
			}
			if d.quiescent() {
				stable++
			} else {
				stable = 0
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
}

// advance moves lab time forward in steps, letting the daemons act at each.
func (l *testLab) advance(total, step time.Duration) {
	for done := time.Duration(0); done < total; done += step {
		l.clk.Advance(step)
		l.settle()
	}
}

// until advances lab time in steps until cond holds; it fails the test
// after max lab time.
func (l *testLab) until(max time.Duration, what string, cond func() bool) {
	l.t.Helper()
	for done := time.Duration(0); ; done += time.Second {
		if cond() {
			return
		}
		if done >= max {
			l.t.Fatalf("after %v of lab time: %s", max, what)
		}
		l.clk.Advance(time.Second)
		l.settle()
	}
}

// ec2ENIs returns the instance's ENIs as EC2 sees them.
func (n *testNode) ec2ENIs() []fakeec2.ENI {
	inst, ok := n.lab.ec2.Instance(n.inst.ID)
	require.True(n.lab.t, ok)
	return inst.ENIs
}

// ec2PrimaryENI returns the instance's device-0 ENI as EC2 sees it.
func (n *testNode) ec2PrimaryENI() fakeec2.ENI {
	for _, e := range n.ec2ENIs() {
		if e.DeviceIndex == 0 {
			return e
		}
	}
	n.lab.t.Fatalf("instance %s has no primary ENI", n.inst.ID)
	return fakeec2.ENI{}
}

// ec2Addresses counts the secondary addresses (a prefix counts 16) EC2 has
// on the instance's ENIs.
func (n *testNode) ec2Addresses() int {
	total := 0
	for _, e := range n.ec2ENIs() {
		total += len(e.SecondaryIPs) + 16*len(e.Prefixes)
	}
	return total
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// connect dials the daemon's socket.
func (n *testNode) connect() {
	conn, err := grpc.NewClient("unix://"+n.opts.SocketPath, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(n.lab.t, err)
	n.lab.t.Cleanup(func() { conn.Close() })
	n.conn, n.client = conn, rpc.NewCNIBackendClient(conn)
}

func vethOf(namespace, pod string) string { return datapath.HostVethName("eni", namespace, pod) }
