package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/enilab/enilab/internal/scheduler"
)

// Deployment is a set of identical pods the lab's control plane keeps at
// Replicas, placing each with internal/scheduler.
type Deployment struct {
	Name         string
	Replicas     int
	NodeSelector map[string]string
	HostNetwork  bool
	// Labels are its pods' labels (the pod template's).
	Labels map[string]string
}

// controlPlane is the part of the API server, ReplicaSet controller and
// scheduler the lab needs: the deployments and the pods not yet bound.
type controlPlane struct {
	// op serializes the operations (deploy, delete, schedule), so the
	// scheduler's pod counts are the nodes' own.
	op sync.Mutex

	mu          sync.Mutex
	deps        map[string]*deployment
	unscheduled []*unscheduledPod
}

type deployment struct {
	Deployment
	// next numbers the deployment's next pod (web-<next>).
	next int
}

type unscheduledPod struct {
	name, deployment string
	created          time.Time
	message          string
}

// Deploy creates or scales a deployment: missing replicas are created and
// scheduled, surplus ones deleted as the ReplicaSet controller picks them
// (unscheduled first, then not ready, then the newest).
func (l *Lab) Deploy(ctx context.Context, d Deployment) error {
	if d.Name == "" || d.Replicas < 0 {
		return fmt.Errorf("node: deploy %q: want a name and replicas ≥ 0, got %d", d.Name, d.Replicas)
	}
	l.cp.op.Lock()
	defer l.cp.op.Unlock()
	l.cp.mu.Lock()
	if l.cp.deps == nil {
		l.cp.deps = map[string]*deployment{}
	}
	dep := l.cp.deps[d.Name]
	if dep == nil {
		dep = &deployment{next: 1}
		l.cp.deps[d.Name] = dep
	}
	dep.Deployment = d
	l.cp.mu.Unlock()
	if err := l.reconcile(ctx, d.Name); err != nil {
		return err
	}
	return l.scheduleLocked(ctx)
}

// DeleteDeployment deletes a deployment and every pod it owns.
func (l *Lab) DeleteDeployment(ctx context.Context, name string) error {
	l.cp.op.Lock()
	defer l.cp.op.Unlock()
	l.cp.mu.Lock()
	dep, ok := l.cp.deps[name]
	if ok {
		dep.Replicas = 0
	}
	l.cp.mu.Unlock()
	if !ok {
		return fmt.Errorf("node: no deployment %q", name)
	}
	err := l.reconcile(ctx, name)
	l.cp.mu.Lock()
	delete(l.cp.deps, name)
	l.cp.mu.Unlock()
	return errors.Join(err, l.scheduleLocked(ctx))
}

// DeletePod deletes one pod by its Kubernetes name (web-3) or lab name
// (node-1/pod-3). Graceful, the kubelet runs the CNI DEL; with force
// (grace period 0) the sandbox goes without one (Node.ForceDeletePod). A
// deployment's pod is replaced, as its ReplicaSet would, and pending pods
// are scheduled into the room it left.
func (l *Lab) DeletePod(ctx context.Context, name string, force bool) error {
	l.cp.op.Lock()
	defer l.cp.op.Unlock()
	dep := ""
	if i := l.cp.unscheduledIndex(name); i >= 0 {
		l.cp.mu.Lock()
		dep = l.cp.unscheduled[i].deployment
		l.cp.unscheduled = slices.Delete(l.cp.unscheduled, i, i+1)
		l.cp.mu.Unlock()
	} else {
		n, full, ok := l.findBound(name)
		if !ok {
			return fmt.Errorf("node: no pod %q", name)
		}
		dep = n.PodDeployment(full)
		var err error
		if force {
			err = n.ForceDeletePod(full)
		} else {
			err = n.DeletePod(ctx, full)
		}
		if err != nil {
			return err
		}
	}
	var err error
	if dep != "" {
		err = l.reconcile(ctx, dep)
	}
	return errors.Join(err, l.scheduleLocked(ctx))
}

// Schedule binds every unscheduled pod that now fits somewhere (a node
// joined, a pod left); the others keep the scheduler's message.
func (l *Lab) Schedule(ctx context.Context) error {
	l.cp.op.Lock()
	defer l.cp.op.Unlock()
	return l.scheduleLocked(ctx)
}

func (l *Lab) scheduleLocked(ctx context.Context) error {
	l.cp.mu.Lock()
	pending := slices.Clone(l.cp.unscheduled)
	l.cp.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	nodes := l.Nodes()
	view := make([]scheduler.Node, len(nodes))
	for i, n := range nodes {
		view[i] = scheduler.Node{Name: n.name, Labels: n.Labels(), Ready: n.Ready(), MaxPods: n.MaxPods(), Pods: n.BoundPods()}
	}
	var errs []error
	for _, up := range pending {
		dep, ok := l.cp.deployment(up.deployment)
		if !ok {
			continue
		}
		target, err := scheduler.Schedule(scheduler.Pod{NodeSelector: dep.NodeSelector}, view)
		if err != nil {
			l.cp.setMessage(up, "FailedScheduling: "+err.Error())
			continue
		}
		i := slices.IndexFunc(view, func(v scheduler.Node) bool { return v.Name == target })
		if err := nodes[i].StartPod(ctx, PodSpec{Name: up.name, Deployment: up.deployment, HostNetwork: dep.HostNetwork, Labels: dep.Labels}); err != nil {
			errs = append(errs, err)
			continue
		}
		view[i].Pods++
		l.cp.remove(up)
		l.log.Info("pod scheduled", "pod", up.name, "node", target)
	}
	return errors.Join(errs...)
}

// reconcile brings a deployment's pod count to its replicas (call with
// cp.op held).
func (l *Lab) reconcile(ctx context.Context, name string) error {
	dep, ok := l.cp.deployment(name)
	if !ok {
		return nil
	}
	bound := l.boundOf(name)
	l.cp.mu.Lock()
	var mine []*unscheduledPod
	for _, up := range l.cp.unscheduled {
		if up.deployment == name {
			mine = append(mine, up)
		}
	}
	have := len(bound) + len(mine)
	for ; have < dep.Replicas; have++ {
		d := l.cp.deps[name]
		l.cp.unscheduled = append(l.cp.unscheduled, &unscheduledPod{name: name + "-" + strconv.Itoa(d.next), deployment: name, created: l.clock.Now(), message: "waiting for the scheduler"})
		d.next++
	}
	surplus := have - dep.Replicas
	// Unscheduled pods go first, newest first.
	for i := len(mine) - 1; i >= 0 && surplus > 0; i-- {
		if j := slices.Index(l.cp.unscheduled, mine[i]); j >= 0 {
			l.cp.unscheduled = slices.Delete(l.cp.unscheduled, j, j+1)
		}
		surplus--
	}
	l.cp.mu.Unlock()
	var errs []error
	for _, b := range bound[:min(surplus, len(bound))] {
		errs = append(errs, b.node.DeletePod(ctx, b.status.Name))
	}
	return errors.Join(errs...)
}

type boundPod struct {
	node   *Node
	status PodStatus
}

// boundOf lists a deployment's pods on nodes in the order the ReplicaSet
// controller deletes them: not ready before ready, newest first.
func (l *Lab) boundOf(dep string) []boundPod {
	var out []boundPod
	for _, n := range l.Nodes() {
		for _, st := range n.Pods() {
			if n.PodDeployment(st.Name) == dep {
				out = append(out, boundPod{n, st})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b boundPod) int {
		ar, br := a.status.Phase == PhaseReady, b.status.Phase == PhaseReady
		if ar != br {
			if ar {
				return 1
			}
			return -1
		}
		return b.status.Created.Compare(a.status.Created)
	})
	return out
}

// findBound finds a bound pod by Kubernetes or lab name.
func (l *Lab) findBound(name string) (*Node, string, bool) {
	for _, n := range l.Nodes() {
		for _, st := range n.Pods() {
			if st.Name == name || st.K8sName == name {
				return n, st.Name, true
			}
		}
	}
	return nil, "", false
}

// UnscheduledPods are the pods no node has taken yet, oldest first; each
// Message is the scheduler's last FailedScheduling event.
func (l *Lab) UnscheduledPods() []PodStatus {
	l.cp.mu.Lock()
	defer l.cp.mu.Unlock()
	out := make([]PodStatus, len(l.cp.unscheduled))
	for i, up := range l.cp.unscheduled {
		out[i] = PodStatus{Name: up.name, K8sName: up.name, Phase: PhasePending, Created: up.created, Message: up.message, Device: -1}
	}
	return out
}

// Deployments lists the deployments by name.
func (l *Lab) Deployments() []Deployment {
	l.cp.mu.Lock()
	defer l.cp.mu.Unlock()
	out := make([]Deployment, 0, len(l.cp.deps))
	for _, name := range slices.Sorted(maps.Keys(l.cp.deps)) {
		d := l.cp.deps[name].Deployment
		d.NodeSelector = maps.Clone(d.NodeSelector)
		d.Labels = maps.Clone(d.Labels)
		out = append(out, d)
	}
	return out
}

func (c *controlPlane) deployment(name string) (Deployment, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.deps[name]
	if !ok {
		return Deployment{}, false
	}
	return d.Deployment, true
}

func (c *controlPlane) unscheduledIndex(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.IndexFunc(c.unscheduled, func(up *unscheduledPod) bool { return up.name == name })
}

func (c *controlPlane) setMessage(up *unscheduledPod, msg string) {
	c.mu.Lock()
	up.message = msg
	c.mu.Unlock()
}

func (c *controlPlane) remove(up *unscheduledPod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.unscheduled, up); i >= 0 {
		c.unscheduled = slices.Delete(c.unscheduled, i, i+1)
	}
}

// Ready is the node's Ready condition as the scheduler reads it: the
// kubelet reports Ready once the CNI is configured, i.e. once aws-node's
// ipamd has served (a lab without ipamd is Ready at once).
func (n *Node) Ready() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lab.cfg.noIPAMD || n.daemon != nil || n.lastStat.MaxPods > 0
}

// RemoveNode drains a node as `kubectl drain` and the node group's
// scale-in do: every pod is deleted (CNI DEL), the node leaves the lab and
// its instance is terminated (EC2 detaches its ENIs and deletes those
// marked DeleteOnTermination, so their addresses return to the subnet),
// then the deployments replace their pods on the nodes left.
func (l *Lab) RemoveNode(ctx context.Context, name string) error {
	n, ok := l.Node(name)
	if !ok {
		return fmt.Errorf("node: no node %q", name)
	}
	l.cp.op.Lock()
	defer l.cp.op.Unlock()
	deps := map[string]bool{}
	var errs []error
	for _, st := range n.Pods() {
		if d := n.PodDeployment(st.Name); d != "" {
			deps[d] = true
		}
		errs = append(errs, n.DeletePod(ctx, st.Name))
	}
	l.discard(n)
	l.log.Info("node removed", "node", name)
	for _, d := range slices.Sorted(maps.Keys(deps)) {
		errs = append(errs, l.reconcile(ctx, d))
	}
	errs = append(errs, l.scheduleLocked(ctx))
	return errors.Join(errs...)
}
