package scenario

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// workloadFake is fakeLab with a control plane that records its calls.
type workloadFake struct {
	*fakeLab
	dsEnv map[string]string
	// launchFails makes AddNode fail as RunInstances on a full subnet.
	launchFails string
}

func (w *workloadFake) record(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, s)
}

func (w *workloadFake) Deploy(ctx context.Context, d DeployStep) error {
	w.record("deploy " + d.Name)
	return nil
}

func (w *workloadFake) DeletePod(ctx context.Context, name string, force bool) error {
	w.record("deletePod " + name)
	return nil
}

func (w *workloadFake) DeleteDeployment(ctx context.Context, name string) error {
	w.record("deleteDeployment " + name)
	return nil
}

func (w *workloadFake) RemoveNode(ctx context.Context, name string) error {
	w.record("removeNode " + name)
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, n := range w.nodes {
		if n.spec.Name == name {
			w.nodes = append(w.nodes[:i], w.nodes[i+1:]...)
			break
		}
	}
	return nil
}

func (w *workloadFake) SetDaemonSetEnv(env map[string]string) { w.dsEnv = env }

func (w *workloadFake) StopIPAMDFor(ctx context.Context, node string, env map[string]string, down time.Duration) error {
	w.record("stop " + node + " " + down.String())
	return nil
}

func (w *workloadFake) AddNode(ctx context.Context, spec NodeSpec) error {
	if spec.Name == w.launchFails {
		return errors.New("node: " + spec.Name + ": run m5.large instance: InsufficientFreeAddressesInSubnet: The specified subnet subnet-a does not have enough free addresses")
	}
	return w.fakeLab.AddNode(ctx, spec)
}

func (w *workloadFake) factory() NewLabFunc {
	return func(ctx context.Context, sc *Scenario, opts LabOptions) (Lab, error) { return w, nil }
}

const workloadRun = `
timeScale: 0.0005
vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]
nodes:
  - {name: node, count: 3, instanceType: c5.large, subnet: subnet-a}
steps:
  - {deploy: {name: web, replicas: 3}}
  - {ipamd: {set: {WARM_IP_TARGET: "2"}, rollout: {maxUnavailable: 2, minReadySeconds: 5}}}
  - {nodes: {group: node, add: 2}}
  - {nodes: {group: node, remove: 2}}
  - {restart: {node: node-1, down: 20s}}
  - {delete: {pod: web-1, gracePeriod: 0}}
  - {delete: {deployment: web}}
`

// The runner's side of the workload steps: a rollout restarts
// maxUnavailable nodes per batch and says which revision runs where; a
// node whose instance does not launch is reported, not failed; removing
// it later skips it.
func TestRunWorkloadSteps(t *testing.T) {
	w := &workloadFake{fakeLab: newFakeLab(), launchFails: "node-5"}
	sc := parseOK(t, workloadRun)
	var out strings.Builder
	rep, err := Run(context.Background(), sc, Options{Out: &out, NewLab: w.factory(), Poll: time.Millisecond})
	require.NoError(t, err, out.String())
	assert.True(t, rep.Passed)
	assert.Equal(t, []string{"addNode node-1", "addNode node-2", "addNode node-3", "deploy web",
		"restart node-1", "restart node-2", "restart node-3", "addNode node-4", "removeNode node-4",
		"stop node-1 20s", "deletePod web-1", "deleteDeployment web"}, w.calls)
	assert.Equal(t, map[string]string{"WARM_IP_TARGET": "2"}, w.dsEnv)
	assert.Contains(t, out.String(), "aws-node revision 2 (WARM_IP_TARGET=2) runs on node-1, node-2; revision 1 still on node-3")
	assert.Contains(t, out.String(), "node node-5 never becomes Ready: its instance did not launch")
	assert.Equal(t, "node group node: drained and terminated node-4 (pods rescheduled, ENIs deleted on termination as DeleteOnTermination says); node-5 never launched", rep.Steps[3].Message)
}

// A lab without a control plane fails the workload steps, saying why.
func TestRunWorkloadStepNeedsControlPlane(t *testing.T) {
	rep, _, err := runFake(t, workloadRun, newFakeLab(), nil)
	var f *Failed
	require.True(t, errors.As(err, &f))
	assert.False(t, rep.Steps[0].OK)
	assert.Contains(t, rep.Steps[0].Message, "this lab has no control plane")
}

func TestPodExpectAndDeploymentSummary(t *testing.T) {
	s := Snapshot{Pods: []PodState{
		{Name: "node-1/web-1", Node: "node-1", Phase: "Ready", IP: "10.0.1.5", Subnet: "subnet-a"},
		{Name: "node-2/web-2", Node: "node-2", Phase: "Pending", Message: "FailedCreatePodSandBox: no IP"},
		{Name: "web-3", Phase: "Pending", Message: "FailedScheduling: 0/2 nodes are available: 2 Too many pods."},
		{Name: "node-1/pod-1", Node: "node-1", Phase: "Ready"},
	}}
	assert.Empty(t, (&Expect{Pod: &PodExpect{Name: "web-1", State: PodRunning, IPInSubnet: "subnet-a"}}).Check(s))
	assert.Empty(t, (&Expect{Pod: &PodExpect{Name: "web-3", State: PodPending, Reason: "Too many pods"}}).Check(s))
	assert.Empty(t, (&Expect{Pod: &PodExpect{Name: "web-9", State: PodGone}}).Check(s))
	miss := (&Expect{Pod: &PodExpect{Name: "web-2", State: PodRunning, IPInSubnet: "subnet-a"}}).Check(s)
	require.Len(t, miss, 2)
	assert.Equal(t, "pod web-2: want Running, got Pending (FailedCreatePodSandBox: no IP)", miss[0].String())
	assert.Equal(t, "web: 2 of 3 pods bound (node-1 1, node-2 1); 1 Pending unscheduled: FailedScheduling: 0/2 nodes are available: 2 Too many pods.", DeploymentSummary(s, "web"))
}

// A fleet deployment's summary names its first nodes and counts the rest.
func TestDeploymentSummaryOfAFleet(t *testing.T) {
	var s Snapshot
	for i := 1; i <= 12; i++ {
		s.Pods = append(s.Pods, PodState{Name: fmt.Sprintf("web-%d", i), Node: fmt.Sprintf("fleet-%d", i), Phase: PodRunning})
	}
	assert.Equal(t, "web: 12 of 12 pods bound (fleet-1 1, fleet-2 1, fleet-3 1, fleet-4 1, fleet-5 1, fleet-6 1, fleet-7 1, fleet-8 1, … 4 more nodes)", DeploymentSummary(s, "web"))
}
