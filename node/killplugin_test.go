package node

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/datastore"
	"github.com/enilab/enilab/ipamd/rpc"
)

// TestPluginKilledBetweenIPAMDAndNetlink SIGKILLs the real plugin process
// after ipamd's AddNetwork reply has come back and before the plugin does
// any netlink work (upstream's cni.go add: ipamd first, then
// driver.SetupPodNetwork). As upstream: the ADD fails; the address is
// assigned in ipamd with no veth; the runtime's DEL of the dead sandbox
// releases it (DelNetwork), and when that DEL finds ipamd down the address
// waits for ipamd's next restart, whose restore drops entries whose pod's
// host veth is gone (normalizeCheckpointDataByPodVethExistence), as it
// does when ipamd restarts before the DEL comes; the retried ADD of the
// pod works.
func TestPluginKilledBetweenIPAMDAndNetlink(t *testing.T) {
	ctx := context.Background()
	proxy := &killProxy{t: t, killed: make(chan killedAdd, 1)}
	l := testLab(t, "kplug", LabConfig{
		Seed: 11, TimeScale: 0.02,
		Subnets:           []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.0.0/24", AZ: "us-west-2a"}},
		PluginIPAMDSocket: proxy.start,
	})
	n, err := l.AddNode(ctx, Spec{Name: "node-1", InstanceType: "t3.medium"})
	require.NoError(t, err)

	// The runtime's DEL reaches ipamd: the address is released at once.
	k := proxy.killNextAdd(delForward)
	require.NoError(t, n.AddPods(ctx, 1))
	kill := proxy.waitKilled(t)
	assertAssignedWithoutVeth(t, n, kill, "pod-1")
	proxy.releaseDel(k)
	waitPodReady(t, n, "node-1/pod-1")
	requireAssigned(t, n, 1, "the dead sandbox's address, released by the runtime's DEL")

	// The runtime's DEL finds ipamd down (the plugin tears down what it
	// can and succeeds): the address stays assigned until a restart.
	k = proxy.killNextAdd(delUnavailable)
	require.NoError(t, n.AddPods(ctx, 1))
	kill = proxy.waitKilled(t)
	assertAssignedWithoutVeth(t, n, kill, "pod-2")
	proxy.releaseDel(k)
	waitPodReady(t, n, "node-1/pod-2")
	requireAssigned(t, n, 3, "pod-1, pod-2 and pod-2's dead sandbox")
	// As upstream: the restore looks for the pod's veth, not the
	// sandbox's, so the dead sandbox's entry stays while its pod lives.
	require.NoError(t, n.RestartIPAMD(ctx))
	requireAssigned(t, n, 3, "after a restart while pod-2 lives")
	require.NoError(t, n.DeletePod(ctx, "node-1/pod-2"))
	requireAssigned(t, n, 2, "pod-1 and pod-2's dead sandbox")
	require.NoError(t, n.RestartIPAMD(ctx))
	requireAssigned(t, n, 1, "after a restart with pod-2's veth gone")

	// ipamd restarts before the runtime's DEL: the dead sandbox's pod has
	// no veth yet, so the restore drops it; the DEL then finds no pod
	// ("datastore: unknown pod"), which the plugin takes as done.
	// The new pod is pod-2 again: the lab reuses the free number.
	k = proxy.killNextAdd(delForward)
	require.NoError(t, n.AddPods(ctx, 1))
	kill = proxy.waitKilled(t)
	assertAssignedWithoutVeth(t, n, kill, "pod-2")
	requireAssigned(t, n, 2, "pod-1 and the new pod-2's dead sandbox")
	require.NoError(t, n.RestartIPAMD(ctx))
	requireAssigned(t, n, 1, "after a restart with the new pod-2's veth never made")
	proxy.releaseDel(k)
	waitPodReady(t, n, "node-1/pod-2")
	requireAssigned(t, n, 2, "pod-1 and pod-2")
	for _, name := range []string{"node-1/pod-1", "node-1/pod-2"} {
		require.NoError(t, n.CheckPod(ctx, name), "%s after the restarts", name)
	}
}

// assertAssignedWithoutVeth checks the state the kill leaves: ipamd holds
// the address it answered, the pod has no host veth, and its ADD failed.
func assertAssignedWithoutVeth(t *testing.T, n *Node, kill killedAdd, pod string) {
	t.Helper()
	t.Logf("plugin pid %d killed after ipamd gave %s to %s", kill.pid, kill.ip, pod)
	require.Equal(t, pod, kill.pod)
	// The runtime hears of the failed ADD, then sends the DEL the proxy
	// holds, so the state below stays put while it is looked at.
	st, _ := n.Pod(n.Name() + "/" + pod)
	for deadline := time.Now().Add(30 * time.Second); st.Message == "" && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		st, _ = n.Pod(n.Name() + "/" + pod)
	}
	require.Equal(t, PhasePending, st.Phase, "%s after its plugin was killed", pod)
	require.Equal(t, 1, st.Attempts)
	require.Contains(t, st.Message, "signal: killed", "%s's ADD", pod)
	// ipamd checkpoints an assignment before answering it.
	cp, _, err := datastore.File{Path: n.ipamdOpts.CheckpointPath}.Load()
	require.NoError(t, err)
	found := false
	for _, e := range cp.Allocations {
		if e.IPv4 == kill.ip {
			found = true
			require.Equal(t, kill.containerID, e.ContainerID, "%s is assigned to the killed sandbox", kill.ip)
		}
	}
	require.True(t, found, "%s is still assigned in ipamd", kill.ip)
	veth := datapath.HostVethName("eni", PodNamespace, pod)
	require.NoError(t, nsutil.Do(n.NetNS(), func() error {
		_, err := net.InterfaceByName(veth)
		assert.Error(t, err, "%s's host veth %s", pod, veth)
		return nil
	}))
}

func requireAssigned(t *testing.T, n *Node, want int, what string) {
	t.Helper()
	require.Equal(t, want, n.IPAMD().Status().AssignedIPs, "ipamd's assigned addresses: %s", what)
}

func waitPodReady(t *testing.T, n *Node, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, ok := n.Pod(name)
		require.True(t, ok, name)
		if st.Phase == PhaseReady {
			t.Logf("%s ready after %d attempts with %s", name, st.Attempts, st.IP)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %s", name, st.Message)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// What the proxy does with the DEL of a killed sandbox, once released.
const (
	delForward     = "forward"
	delUnavailable = "unavailable"
)

// killedAdd is an ADD whose plugin the proxy killed.
type killedAdd struct {
	pid                  int
	pod, containerID, ip string
}

// killProxy is a gRPC proxy in front of a node's ipamd socket: the plugin
// dials it, it reads the caller's pid from the socket (SO_PEERCRED) and
// forwards to ipamd. Armed, it SIGKILLs the plugin once ipamd's AddNetwork
// reply is back, and holds the DEL of that sandbox until released.
type killProxy struct {
	rpc.UnimplementedCNIBackendServer
	t      *testing.T
	ipamd  rpc.CNIBackendClient
	killed chan killedAdd

	mu      sync.Mutex
	armed   string                   // DEL mode of the next kill; "" = disarmed
	held    map[string]chan struct{} // container id → released
	delMode map[string]string
	gate    chan struct{} // the armed kill's DEL gate
}

// start is the lab's PluginIPAMDSocket: a proxy socket for the node (one
// node per proxy).
func (p *killProxy) start(node, ipamdSocket string) string {
	t := p.t
	require.Nil(t, p.ipamd, "a killProxy serves one node")
	conn, err := grpc.NewClient("unix://"+ipamdSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	p.ipamd = rpc.NewCNIBackendClient(conn)
	path := filepath.Join(t.TempDir(), node+".sock")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	srv := grpc.NewServer()
	rpc.RegisterCNIBackendServer(srv, p)
	go func() { _ = srv.Serve(peerListener{ln}) }()
	t.Cleanup(srv.Stop)
	return path
}

// killNextAdd arms the proxy; the returned key releases the DEL.
func (p *killProxy) killNextAdd(delMode string) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = delMode
	p.gate = make(chan struct{})
	return p.gate
}

func (p *killProxy) releaseDel(gate chan struct{}) { close(gate) }

func (p *killProxy) waitKilled(t *testing.T) killedAdd {
	t.Helper()
	select {
	case k := <-p.killed:
		return k
	case <-time.After(60 * time.Second):
		t.Fatal("the plugin never called AddNetwork")
		return killedAdd{}
	}
}

func (p *killProxy) AddNetwork(ctx context.Context, in *rpc.AddNetworkRequest) (*rpc.AddNetworkReply, error) {
	reply, err := p.ipamd.AddNetwork(ctx, in)
	p.mu.Lock()
	mode, gate := p.armed, p.gate
	if mode != "" && err == nil && reply.GetSuccess() {
		p.armed = ""
		if p.held == nil {
			p.held, p.delMode = map[string]chan struct{}{}, map[string]string{}
		}
		p.held[in.ContainerID], p.delMode[in.ContainerID] = gate, mode
	}
	p.mu.Unlock()
	if mode == "" || err != nil || !reply.GetSuccess() {
		return reply, err
	}
	pid := peerPID(ctx)
	if err := killPlugin(pid); err != nil {
		p.t.Errorf("kill the plugin: %v", err)
		return reply, err
	}
	p.killed <- killedAdd{pid: pid, pod: in.K8S_POD_NAME, containerID: in.ContainerID, ip: reply.GetIPAllocationMetadata()[0].GetIPv4Addr()}
	return reply, nil // to a dead process
}

func (p *killProxy) DelNetwork(ctx context.Context, in *rpc.DelNetworkRequest) (*rpc.DelNetworkReply, error) {
	p.mu.Lock()
	gate, mode := p.held[in.ContainerID], p.delMode[in.ContainerID]
	delete(p.held, in.ContainerID)
	p.mu.Unlock()
	if gate != nil {
		<-gate
		if mode == delUnavailable {
			return nil, status.Error(codes.Unavailable, "ipamd is restarting")
		}
	}
	return p.ipamd.DelNetwork(ctx, in)
}

// killPlugin SIGKILLs pid after checking it is a plugin process (the lab
// runs the plugin under the name aws-cni).
func killPlugin(pid int) error {
	if pid <= 0 || pid == os.Getpid() {
		return fmt.Errorf("peer pid %d is not a plugin", pid)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return err
	}
	if c := strings.TrimSpace(string(comm)); c != "aws-cni" {
		return fmt.Errorf("peer pid %d is %q, not the plugin", pid, c)
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}

// peerPID is the pid peerListener read for the call's connection.
func peerPID(ctx context.Context) int {
	if pr, ok := peer.FromContext(ctx); ok {
		if a, ok := pr.Addr.(peerAddr); ok {
			return a.pid
		}
	}
	return 0
}

// peerListener reads each connection's peer pid (SO_PEERCRED) at accept
// and hands it to gRPC as the connection's remote address.
type peerListener struct{ net.Listener }

func (l peerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	pid := 0
	if uc, ok := c.(*net.UnixConn); ok {
		if raw, err := uc.SyscallConn(); err == nil {
			_ = raw.Control(func(fd uintptr) {
				if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
					pid = int(cred.Pid)
				}
			})
		}
	}
	return peerConn{Conn: c, pid: pid}, nil
}

type peerConn struct {
	net.Conn
	pid int
}

func (c peerConn) RemoteAddr() net.Addr { return peerAddr{pid: c.pid} }

type peerAddr struct{ pid int }

func (peerAddr) Network() string  { return "unix" }
func (a peerAddr) String() string { return fmt.Sprintf("pid %d", a.pid) }
