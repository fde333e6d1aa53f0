package node

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func podsOf(l *Lab, dep string) map[string]int {
	out := map[string]int{}
	for _, b := range l.boundOf(dep) {
		out[b.node.Name()]++
	}
	return out
}

// The control plane of a deployment: kube-scheduler's spread and max pods
// (host-network pods count), FailedScheduling for the rest, the
// ReplicaSet controller's scale-down order and replacement of a deleted
// pod, and pending pods bound once a node joins.
func TestDeploySchedulesScalesAndRetries(t *testing.T) {
	l := fabricLab(t, "dep", 0, nil)
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		_, err := l.AddNode(ctx, Spec{Name: name, InstanceType: "m5.large", MaxPods: 6, Labels: map[string]string{"group": "ng"}})
		require.NoError(t, err)
	}
	// Each node holds 6 − 2 host-network pods = 4.
	require.NoError(t, l.Deploy(ctx, Deployment{Name: "web", Replicas: 10, HostNetwork: true}))
	assert.Equal(t, map[string]int{"a": 4, "b": 4}, podsOf(l, "web"))
	un := l.UnscheduledPods()
	require.Len(t, un, 2)
	assert.Equal(t, "FailedScheduling: 0/2 nodes are available: 2 Too many pods. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.", un[0].Message)
	assert.Equal(t, []string{"web-9", "web-10"}, []string{un[0].Name, un[1].Name})

	// A pod that leaves makes room for the oldest pending one; the
	// ReplicaSet adds a replacement, which stays pending.
	require.NoError(t, l.DeletePod(ctx, "web-1", false))
	assert.Equal(t, map[string]int{"a": 4, "b": 4}, podsOf(l, "web"))
	un = l.UnscheduledPods()
	assert.Equal(t, []string{"web-10", "web-11"}, []string{un[0].Name, un[1].Name})

	// Scale-down deletes unscheduled pods first.
	require.NoError(t, l.Deploy(ctx, Deployment{Name: "web", Replicas: 7, HostNetwork: true}))
	assert.Empty(t, l.UnscheduledPods())
	assert.Len(t, l.boundOf("web"), 7)

	// A selector no node matches.
	require.NoError(t, l.Deploy(ctx, Deployment{Name: "gpu", Replicas: 1, HostNetwork: true, NodeSelector: map[string]string{"group": "gpu"}}))
	un = l.UnscheduledPods()
	require.Len(t, un, 1)
	assert.Equal(t, "FailedScheduling: 0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.", un[0].Message)

	_, err := l.AddNode(ctx, Spec{Name: "c", InstanceType: "m5.large", MaxPods: 6, Labels: map[string]string{"group": "gpu"}})
	require.NoError(t, err)
	require.NoError(t, l.Schedule(ctx))
	assert.Empty(t, l.UnscheduledPods())
	assert.Equal(t, map[string]int{"c": 1}, podsOf(l, "gpu"))

	require.NoError(t, l.DeleteDeployment(ctx, "web"))
	assert.Empty(t, l.boundOf("web"))
	assert.Equal(t, []string{"gpu"}, []string{l.Deployments()[0].Name})
}

// Numbered pods (a pods step's) are numbered among themselves and deleted
// newest first without touching a deployment's pods.
func TestNumberedPodsIgnoreDeploymentPods(t *testing.T) {
	l := fabricLab(t, "num", 0, nil)
	ctx := context.Background()
	n, err := l.AddNode(ctx, Spec{Name: "a", InstanceType: "m5.large"})
	require.NoError(t, err)
	require.NoError(t, l.Deploy(ctx, Deployment{Name: "web", Replicas: 2, HostNetwork: true}))
	require.NoError(t, n.AddPods(ctx, 1))
	require.NoError(t, l.Deploy(ctx, Deployment{Name: "web", Replicas: 3, HostNetwork: true}))
	var names []string
	for _, p := range n.Pods() {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"a/web-1", "a/web-2", "a/pod-1", "a/web-3"}, names, "creation order")
	require.NoError(t, n.DeletePods(ctx, 1))
	assert.Len(t, l.boundOf("web"), 3)
	assert.Error(t, n.DeletePods(ctx, 1), "no numbered pod is left")
}

// RemoveNode drains (a deployment's pods are replaced on the nodes left)
// and terminates the instance: its primary ENI, DeleteOnTermination, is
// deleted and its address returns to the subnet.
func TestRemoveNodeDrainsAndFreesAddresses(t *testing.T) {
	l := fabricLab(t, "rm", 0, nil)
	ctx := context.Background()
	free := func() int { s, _ := l.EC2().Subnet("subnet-a"); return s.Free }
	before := free()
	for _, name := range []string{"a", "b"} {
		_, err := l.AddNode(ctx, Spec{Name: name, InstanceType: "m5.large"})
		require.NoError(t, err)
	}
	require.NoError(t, l.Deploy(ctx, Deployment{Name: "web", Replicas: 6, HostNetwork: true}))
	assert.Equal(t, map[string]int{"a": 3, "b": 3}, podsOf(l, "web"))
	require.Equal(t, before-2, free())

	require.NoError(t, l.RemoveNode(ctx, "b"))
	_, ok := l.Node("b")
	assert.False(t, ok)
	assert.Equal(t, map[string]int{"a": 6}, podsOf(l, "web"), "b's pods replaced on a")
	assert.Equal(t, before-1, free(), "b's primary address is back")
	assert.Error(t, l.RemoveNode(ctx, "b"))
}
