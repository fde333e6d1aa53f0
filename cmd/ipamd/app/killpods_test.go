package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/enilab/enilab/ipamd/rpc"
)

// TestSIGKILLWhileGrowingWithPodsHoldingAddresses kills ipamd while it
// grows a pool whose addresses pods hold (pods added over its gRPC socket,
// as the plugin adds them): at the AssignPrivateIpAddresses that tops up the
// primary ENI (upstream's tryAssignIPs), at the CreateNetworkInterface of
// the next ENI (tryAllocateENI), and in prefix mode at the
// AssignPrivateIpAddresses of a /28 (tryAssignPrefixes). The next ipamd restores the pods from the
// checkpoint (ReadBackingStore) onto the addresses EC2 says the node has
// (nodeIPPoolReconcile), deletes the never-attached ENI (cleanUpLeakedENIs),
// answers a repeated ADD of each pod with the address it already holds
// (AssignPodIPv4Address: "duplicate pod assign for sandbox"), and gives new
// pods addresses no pod holds.
func TestSIGKILLWhileGrowingWithPodsHoldingAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ipamd processes")
	}
	// t3.medium: 5 secondary addresses per ENI. WARM_IP_TARGET=2: after 2
	// pods the primary tops up; after 3 it is full and the 4th pod's
	// growth needs a new ENI. The pool then holds 2 addresses beyond the
	// pods'.
	ipTarget := func(p poolView, pods int) bool { return p.ipamdIPs == p.ec2IPs && p.ipamdIPs == pods+2 }
	// t3.small in prefix mode, WARM_PREFIX_TARGET=1: the pool keeps 16
	// addresses free, in whole /28s; the 17th pod's growth asks for the
	// primary's third prefix (tryAssignPrefixes).
	prefixTarget := func(p poolView, pods int) bool {
		return p.ec2IPs == 0 && p.ipamdIPs == 16*p.prefixes && p.prefixes == (pods+31)/16
	}
	for _, c := range []podKillCase{
		{"AssignPrivateIpAddresses", "t3.medium", "WARM_IP_TARGET=2", 2, ipTarget},
		{"CreateNetworkInterface", "t3.medium", "WARM_IP_TARGET=2", 3, ipTarget},
		{"AssignPrivateIpAddresses+prefixes", "t3.small", "ENABLE_PREFIX_DELEGATION=true", 16, prefixTarget},
	} {
		t.Run(c.name, func(t *testing.T) { killWithPods(t, c) })
	}
}

// podKillCase: before pods are added, then the kill point is armed and one
// more pod is added; pool says whether EC2's and ipamd's pool is the
// steady one for that many pods.
type podKillCase struct {
	name, instanceType, env string
	before                  int
	pool                    func(p poolView, pods int) bool
}

func killWithPods(t *testing.T, c podKillCase) {
	step, _, _ := strings.Cut(c.name, "+")
	lab := newEC2Lab(t, c.instanceType, step)
	dir := t.TempDir()
	first := startIPAMD(t, dir, lab, c.env)
	cl := dialIPAMD(t, first.socket)
	held := map[string]string{} // container id → address
	for i := 1; i <= c.before; i++ {
		held[containerID(i)] = cl.addOK(t, containerID(i), podName(i))
	}
	// The pool settles for those pods, then the next pod's growth is the
	// one ipamd never hears the end of; the pod's address was free before.
	lab.waitPool(t, first, agreed(c, c.before))
	lab.hold.armed.Store(true)
	i := c.before + 1
	held[containerID(i)] = cl.addOK(t, containerID(i), podName(i))
	lab.waitHeld(t)
	first.kill(t)
	t.Logf("killed at %s with %d pods: %s", step, len(held), lab.pool(t, first.introspection))
	lab.hold.open()

	second := startIPAMD(t, dir, lab, c.env)
	cl = dialIPAMD(t, second.socket)
	n := len(held)
	lab.waitPool(t, second, agreed(c, n))
	owner := map[string]string{}
	// Newest first: a fresh datastore would hand the addresses out in
	// another order, so only a restored one answers each pod with its own.
	for i := n; i >= 1; i-- {
		cid := containerID(i)
		require.Equal(t, held[cid], cl.addOK(t, cid, podName(i)), "a repeated ADD of %s after the kill", podName(i))
		owner[held[cid]] = podName(i)
	}
	for i := n + 1; i <= n+2; i++ {
		ip := cl.addOK(t, containerID(i), podName(i))
		require.NotContains(t, owner, ip, "%s is given %s's address", podName(i), owner[ip])
		owner[ip] = podName(i)
	}
	lab.waitPool(t, second, agreed(c, n+2))
	second.stop(t)
}

// agreed: EC2 and ipamd agree on the steady pool for that many pods.
func agreed(c podKillCase, pods int) func(poolView) bool {
	return func(p poolView) bool { return p.assigned == pods && p.unattached == 0 && c.pool(p, pods) }
}

func containerID(i int) string { return fmt.Sprintf("sandbox-%04d", i) }
func podName(i int) string     { return fmt.Sprintf("pod-%d", i) }

// pluginClient is the plugin's side of ipamd's socket (ipamd/rpc), dialled
// as cniplugin dials it.
type pluginClient struct {
	rpc.CNIBackendClient
}

func dialIPAMD(t *testing.T, socket string) pluginClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return pluginClient{rpc.NewCNIBackendClient(conn)}
}

// add is one AddNetwork as the plugin sends it; ip is "" unless ipamd
// answered Success.
func (c pluginClient) add(ctx context.Context, cid, pod string) (string, error) {
	r, err := c.AddNetwork(ctx, &rpc.AddNetworkRequest{
		K8S_POD_NAME: pod, K8S_POD_NAMESPACE: "default", K8S_POD_INFRA_CONTAINER_ID: cid, ContainerID: cid,
		IfName: "eth0", NetworkName: "aws-cni", Netns: "/var/run/netns/" + pod, ClientVersion: rpc.Version,
	})
	if err != nil || !r.GetSuccess() || len(r.GetIPAllocationMetadata()) == 0 {
		return "", err
	}
	return r.GetIPAllocationMetadata()[0].GetIPv4Addr(), nil
}

// del is one DelNetwork as the plugin sends it.
func (c pluginClient) del(ctx context.Context, cid, pod string) error {
	_, err := c.DelNetwork(ctx, &rpc.DelNetworkRequest{
		K8S_POD_NAME: pod, K8S_POD_NAMESPACE: "default", K8S_POD_INFRA_CONTAINER_ID: cid, ContainerID: cid,
		IfName: "eth0", NetworkName: "aws-cni", Reason: "PodDeleted", ClientVersion: rpc.Version,
	})
	return err
}

// addOK retries the ADD, as the kubelet does, until ipamd (started or
// growing its pool) answers it with an address.
func (c pluginClient) addOK(t *testing.T, cid, pod string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ip, err := c.add(ctx, cid, pod)
		cancel()
		if ip != "" {
			return ip
		}
		if time.Now().After(deadline) {
			t.Fatalf("ADD %s (%s): no address after 30 s (last error: %v)", pod, cid, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
