package node

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/nsutil"
)

// TestForceDeleteLeaksUntilIPAMDRestarts: a pod deleted with a grace
// period of 0 loses its sandbox (and host veth) at once but gets no CNI
// DEL, so ipamd keeps its address while it runs; its next start-up finds
// no host veth for the checkpoint entry and releases it (upstream's
// normalizeCheckpointDataByPodVethExistence). The veth is gone when
// ForceDeletePod returns, not when the kernel gets round to releasing the
// pod's namespace, so a restart right after sees the pod as gone.
func TestForceDeleteLeaksUntilIPAMDRestarts(t *testing.T) {
	ctx := context.Background()
	l := testLab(t, "fdel", LabConfig{
		Seed: 21, TimeScale: 0.02,
		Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.0.0/24", AZ: "us-west-2a"}},
	})
	n, err := l.AddNode(ctx, Spec{Name: "node-1", InstanceType: "t3.medium"})
	require.NoError(t, err)
	require.NoError(t, n.AddPods(ctx, 2))
	waitPodReady(t, n, "node-1/pod-1")
	waitPodReady(t, n, "node-1/pod-2")
	requireAssigned(t, n, 2, "two pods")

	require.NoError(t, n.ForceDeletePod("node-1/pod-1"))
	veth := datapath.HostVethName("eni", PodNamespace, "pod-1")
	require.NoError(t, nsutil.Do(n.NetNS(), func() error {
		_, err := net.InterfaceByName(veth)
		assert.Error(t, err, "pod-1's host veth %s after the force delete", veth)
		return nil
	}))
	requireAssigned(t, n, 2, "pod-1's address leaks while ipamd runs")

	require.NoError(t, n.RestartIPAMD(ctx))
	requireAssigned(t, n, 1, "after a restart with pod-1's veth gone")
	require.NoError(t, n.CheckPod(ctx, "node-1/pod-2"), "pod-2 after the restart")
}
