package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/ipamd/config"
)

// A corrupt checkpoint makes ipamd's start-up fail (upstream's
// ReadBackingStore, aws-node exits); the node restarts it as the kubelet
// restarts aws-node: at once, then after 10 s, 20 s, 40 s (kubelet's
// doBackOff). While it is down a new pod's ADD fails with the plugin's
// error for an ipamd that does not answer and the pod stays Pending; the
// running pods keep answering. Once the checkpoint is rebuilt, the next
// back-off restart comes up and the pods keep their addresses.
func TestCorruptCheckpointCrashLoopsAsKubeletBackOff(t *testing.T) {
	needRoot(t)
	prefix := testPrefix(t, "crash")
	require.NoError(t, Sweep(prefix))
	// 0.05, not less: a failing start-up sets up the host network and
	// describes and tags the ENIs before it reads the checkpoint
	// (upstream's nodeInit order), seconds of real time under software
	// emulation, and lab time must not stretch that past the kubelet's
	// 10-minute back-off reset.
	l, err := NewLab(context.Background(), LabConfig{
		Prefix: prefix, Seed: 7, TimeScale: 0.05,
		Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	ctx := context.Background()
	n, err := l.AddNode(ctx, Spec{Name: "node-1", InstanceType: "c5.large"})
	require.NoError(t, err)
	require.NoError(t, n.AddPods(ctx, 2))
	require.Eventually(t, func() bool { return n.Status().ReadyPods == 2 }, 60*time.Second, 10*time.Millisecond)
	before := map[string]string{}
	for _, p := range n.Pods() {
		before[p.Name] = p.IP.String()
	}
	st0 := n.IPAMDStatus()
	assert.Equal(t, IPAMDRunning, st0.State)
	assert.Zero(t, st0.Restarts)
	assert.Empty(t, st0.LastError)
	for _, e := range st0.Events {
		assert.False(t, e.Exited || e.Warning, "a healthy start-up has no exit or warning: %s", e.Message)
	}

	require.NoError(t, n.Checkpoint(CheckpointCorrupt))
	require.NoError(t, n.RestartIPAMD(ctx), "a failed start-up is the node's state, not an error")
	require.Eventually(t, func() bool { return n.IPAMDStatus().Restarts >= 3 }, 60*time.Second, 5*time.Millisecond)
	st := n.IPAMDStatus()
	assert.Equal(t, IPAMDCrashLoopBackOff, st.State)
	assert.Contains(t, st.LastError, "failed ipam state recovery from backing store")
	assert.Nil(t, n.IPAMD())
	var exits []IPAMDEvent
	for _, e := range st.Events {
		if e.Exited {
			exits = append(exits, e)
		}
	}
	require.GreaterOrEqual(t, len(exits), 3)
	assert.Contains(t, exits[0].Message, "; restarting failed container=aws-node")
	assert.Contains(t, exits[1].Message, "back-off 10s restarting failed container=aws-node (CrashLoopBackOff)")
	assert.Contains(t, exits[2].Message, "back-off 20s restarting failed container=aws-node (CrashLoopBackOff)")
	gap := exits[2].At.Sub(exits[1].At)
	assert.GreaterOrEqual(t, gap, 10*time.Second, "the 2nd restart waited its 10 s back-off (lab time)")

	require.NoError(t, n.AddPods(ctx, 1))
	require.Eventually(t, func() bool {
		p, _ := n.Pod("node-1/pod-3")
		return p.Attempts >= 1 && p.Message != ""
	}, 30*time.Second, 5*time.Millisecond)
	p, _ := n.Pod("node-1/pod-3")
	assert.Equal(t, PhasePending, p.Phase)
	assert.Contains(t, p.Message, "ipamd is unreachable")
	require.NoError(t, l.Ping(ctx, "node-1/pod-1", "node-1/pod-2"), "running pods keep working while ipamd is down")

	// Rebuild while aws-node waits out a back-off (its last restart has
	// exited), so the next restart is the one that reads the new file.
	require.Eventually(t, func() bool {
		st := n.IPAMDStatus()
		exits := 0
		for _, e := range st.Events {
			if e.Exited {
				exits++
			}
		}
		return exits == st.Restarts+1 && st.Restarts >= 3
	}, 30*time.Second, time.Millisecond)
	restarts := n.IPAMDStatus().Restarts
	require.NoError(t, n.Checkpoint(CheckpointRebuild))
	require.Eventually(t, func() bool { return n.IPAMDStatus().State == IPAMDRunning }, 60*time.Second, 5*time.Millisecond)
	st = n.IPAMDStatus()
	assert.Equal(t, restarts+1, st.Restarts, "the next back-off restart comes up")
	assert.True(t, strings.HasPrefix(lastContainerEvent(st.Events).Message, "ipamd running again"))
	require.Eventually(t, func() bool { return n.Status().ReadyPods == 3 }, 60*time.Second, 10*time.Millisecond)
	for _, p := range n.Pods() {
		if ip, ok := before[p.Name]; ok {
			assert.Equal(t, ip, p.IP.String(), "%s keeps its address", p.Name)
		} else {
			for _, old := range before {
				assert.NotEqual(t, old, p.IP.String(), "the new pod gets an address no running pod holds")
			}
		}
	}
	assert.Equal(t, 3, n.Status().AssignedIPs, "ipamd knows the running pods again")
	require.NoError(t, l.Ping(ctx, "node-1/pod-3", "node-1/pod-1"))
}

// Upstream's handlePreScaling under custom networking: when start-up's
// pool increase attaches no ENI (the ENIConfig's subnet has no free
// address), nodeInit fails with "Failed to attach any ENIs for custom
// networking", so the node comes up with aws-node in CrashLoopBackOff
// instead of AddNode failing.
func TestCustomNetworkingWithoutENICrashLoopsAtNodeStart(t *testing.T) {
	needRoot(t)
	prefix := testPrefix(t, "cnfull")
	require.NoError(t, Sweep(prefix))
	l, err := NewLab(context.Background(), LabConfig{
		Prefix: prefix, Seed: 7, TimeScale: 0.01,
		Subnets: []SubnetSpec{
			{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"},
			{ID: "subnet-pods", CIDR: "10.0.2.0/28", AZ: "us-west-2a"},
		},
		Reservations: []ReservationSpec{{Subnet: "subnet-pods", CIDR: "10.0.2.0/28", Type: "explicit"}},
		IPAMDEnv:     map[string]string{"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true"},
		ENIConfigs:   []config.ENIConfig{{Name: "default", Subnet: "subnet-pods", SecurityGroups: []string{"sg-1"}}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "m5.large"})
	require.NoError(t, err, "the node is up; its aws-node crash-loops")
	require.Eventually(t, func() bool { return n.IPAMDStatus().Restarts >= 2 }, 30*time.Second, 5*time.Millisecond)
	st := n.IPAMDStatus()
	assert.Equal(t, IPAMDCrashLoopBackOff, st.State)
	assert.Equal(t, "Failed to attach any ENIs for custom networking", st.LastError)
	assert.Equal(t, IPAMDCrashLoopBackOff, n.Status().IPAMD)
}

// An ipamd that exits after running (upstream's aws-node exits when its
// gRPC handler fails) is restarted as kubelet restarts a container
// (doBackOff over flowcontrol.Backoff): the first exit at once, the next
// within 10 min after a 10 s back-off, and once ipamd has run over 10 min
// at once again, the back-off starting over at 10 s.
func TestIPAMDExitAfterRunningRestartsAsKubelet(t *testing.T) {
	needRoot(t)
	prefix := testPrefix(t, "exit")
	require.NoError(t, Sweep(prefix))
	// 10 min of lab time is 6 s of real time: a slow machine (the VM
	// subset runs under software emulation) still restarts ipamd well
	// inside it, so the back-off is not reset by accident.
	l, err := NewLab(context.Background(), LabConfig{
		Prefix: prefix, Seed: 7, TimeScale: 0.01,
		Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "c5.large"})
	require.NoError(t, err)

	exit := func() IPAMDEvent {
		t.Helper()
		n.mu.Lock()
		d, pod := n.daemon, n.aws.pod
		n.mu.Unlock()
		require.NotNil(t, d)
		n.onExit(d, pod, errors.New("gRPC handler: accept: use of closed network connection"))
		st := n.IPAMDStatus()
		return lastContainerEvent(st.Events)
	}
	running := func(restarts int) IPAMDEvent {
		t.Helper()
		require.Eventually(t, func() bool {
			st := n.IPAMDStatus()
			return st.State == IPAMDRunning && st.Restarts == restarts
		}, 30*time.Second, 2*time.Millisecond)
		st := n.IPAMDStatus()
		return lastContainerEvent(st.Events)
	}
	const noBackOff = "; restarting failed container=aws-node"
	e := exit()
	assert.True(t, strings.HasSuffix(e.Message, noBackOff), e.Message)
	running(1)

	e = exit()
	assert.Contains(t, e.Message, "back-off 10s restarting failed container=aws-node (CrashLoopBackOff)")
	up := running(2)
	assert.GreaterOrEqual(t, up.At.Sub(e.At), 10*time.Second, "restart 2 waited its back-off (lab time)")

	require.NoError(t, clock.Sleep(context.Background(), l.Clock(), 11*time.Minute))
	e = exit()
	assert.True(t, strings.HasSuffix(e.Message, noBackOff), "ran over 10 min: restarted at once: %s", e.Message)
	running(3)
	e = exit()
	assert.Contains(t, e.Message, "back-off 10s restarting", "the back-off started over")
	running(4)
}

// A checkpoint of a version upstream does not read (after a downgrade)
// crash-loops ipamd with upstream's "unexpected checkpointVersion"; the
// documented fix, removing the file, lets the next restart come up as on a
// new node (ReadBackingStore: no file, no assignments): ipamd no longer
// knows the running pods' addresses.
func TestWrongVersionCheckpointRemovedForgetsRunningPods(t *testing.T) {
	needRoot(t)
	prefix := testPrefix(t, "ver")
	require.NoError(t, Sweep(prefix))
	l, err := NewLab(context.Background(), LabConfig{
		Prefix: prefix, Seed: 7, TimeScale: 0.01,
		Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	ctx := context.Background()
	n, err := l.AddNode(ctx, Spec{Name: "node-1", InstanceType: "c5.large"})
	require.NoError(t, err)
	require.NoError(t, n.AddPods(ctx, 2))
	require.Eventually(t, func() bool { return n.Status().ReadyPods == 2 }, 60*time.Second, 10*time.Millisecond)

	require.NoError(t, n.Checkpoint(CheckpointWrongVersion))
	require.NoError(t, n.RestartIPAMD(ctx))
	st := n.IPAMDStatus()
	assert.Equal(t, IPAMDCrashLoopBackOff, st.State)
	assert.Contains(t, st.LastError, "failed ipam state recovery due to")
	assert.Contains(t, st.LastError, "unexpected checkpointVersion")

	require.NoError(t, n.Checkpoint(CheckpointRemove))
	require.Eventually(t, func() bool { return n.IPAMDStatus().State == IPAMDRunning }, 60*time.Second, 5*time.Millisecond)
	assert.Equal(t, 0, n.Status().AssignedIPs, "ipamd starts as on a new node")
	assert.Equal(t, 2, n.Status().ReadyPods, "the pods run on, unknown to ipamd")
}

// lastContainerEvent is the newest exit or restart of the aws-node
// container, skipping the lines of ipamd's own log (events.go).
func lastContainerEvent(evs []IPAMDEvent) IPAMDEvent {
	for i := len(evs) - 1; i >= 0; i-- {
		if !strings.HasPrefix(evs[i].Message, "ipamd: ") {
			return evs[i]
		}
	}
	return IPAMDEvent{}
}
