package nodelab

import (
	"context"
	"maps"
	"time"

	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
)

var _ scenario.WorkloadLab = (*scenarioLab)(nil)

// Deploy creates or scales a deployment on the lab's control plane.
func (l *scenarioLab) Deploy(ctx context.Context, d scenario.DeployStep) error {
	return l.lab.Deploy(ctx, node.Deployment{Name: d.Name, Replicas: d.Replicas, NodeSelector: maps.Clone(d.NodeSelector), HostNetwork: d.HostNetwork, Labels: maps.Clone(d.Labels)})
}

// DeletePod deletes a pod by name; force skips the CNI DEL.
func (l *scenarioLab) DeletePod(ctx context.Context, name string, force bool) error {
	return l.lab.DeletePod(ctx, name, force)
}

// DeleteDeployment deletes a deployment and its pods.
func (l *scenarioLab) DeleteDeployment(ctx context.Context, name string) error {
	return l.lab.DeleteDeployment(ctx, name)
}

// RemoveNode drains a node and terminates its instance.
func (l *scenarioLab) RemoveNode(ctx context.Context, name string) error {
	return l.lab.RemoveNode(ctx, name)
}

// SetDaemonSetEnv records the DaemonSet's changed environment for nodes
// that join later.
func (l *scenarioLab) SetDaemonSetEnv(env map[string]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dsEnv == nil {
		l.dsEnv = map[string]string{}
	}
	maps.Copy(l.dsEnv, env)
}

// nodeEnv is a joining node's own ipamd environment: its group's, with the
// DaemonSet's changes over it.
func (l *scenarioLab) nodeEnv(group map[string]string) map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.dsEnv) == 0 {
		return group
	}
	out := maps.Clone(group)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, l.dsEnv)
	return out
}

// StopIPAMDFor kills the node's ipamd now; it starts again after down
// with env merged over its environment.
func (l *scenarioLab) StopIPAMDFor(_ context.Context, nodeName string, env map[string]string, down time.Duration) error {
	nd, err := l.node(nodeName)
	if err != nil {
		return err
	}
	if len(env) > 0 {
		if err := nd.SetIPAMDEnv(env); err != nil {
			return err
		}
	}
	return nd.StopIPAMDFor(down)
}

// addUnscheduled puts the pods no node has taken into the snapshot, with
// no node and the scheduler's message.
func (l *scenarioLab) addUnscheduled(s *scenario.Snapshot) {
	for _, p := range l.lab.UnscheduledPods() {
		ps := scenario.PodState{Name: p.Name, Phase: p.Phase, Message: p.Message, Device: -1}
		s.Pods = append(s.Pods, ps)
		s.Waiting = append(s.Waiting, ps)
	}
}
