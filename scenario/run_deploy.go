package scenario

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// WorkloadLab is a lab with a control plane: deployments whose pods its
// scheduler places, and pods deleted by name. Run asks a Lab for it when a
// step needs it.
type WorkloadLab interface {
	// Deploy creates or scales a deployment and schedules its pods.
	Deploy(ctx context.Context, d DeployStep) error
	// DeletePod deletes a pod by name; force is a grace period of 0 (no
	// CNI DEL).
	DeletePod(ctx context.Context, name string, force bool) error
	DeleteDeployment(ctx context.Context, name string) error
	// RemoveNode drains a node (its pods deleted, a deployment's
	// rescheduled elsewhere) and terminates its instance.
	RemoveNode(ctx context.Context, name string) error
	// SetDaemonSetEnv merges env into the aws-node DaemonSet's
	// environment: nodes that join later start with it.
	SetDaemonSetEnv(env map[string]string)
	// StopIPAMDFor kills a node's ipamd now and returns; the node starts
	// it again, with env merged over its environment, after down (lab
	// time).
	StopIPAMDFor(ctx context.Context, node string, env map[string]string, down time.Duration) error
}

// errNoControlPlane is the error of a workload step on a lab without one.
var errNoControlPlane = errors.New("this lab has no control plane (deployments need the node lab)")

func (r *runner) workloads() (WorkloadLab, error) {
	w, ok := r.lab.(WorkloadLab)
	if !ok {
		return nil, errNoControlPlane
	}
	return w, nil
}

// deploy runs a deploy step and says where the pods went.
func (r *runner) deploy(ctx context.Context, d *DeployStep) (string, error) {
	w, err := r.workloads()
	if err != nil {
		return "", err
	}
	if err := w.Deploy(ctx, *d); err != nil {
		return "", fmt.Errorf("deploying %s: %w", d.Name, err)
	}
	return DeploymentSummary(r.lab.Snapshot(), d.Name), nil
}

// deleteStep runs a delete step.
func (r *runner) deleteStep(ctx context.Context, d *DeleteStep) (string, error) {
	w, err := r.workloads()
	if err != nil {
		return "", err
	}
	if d.Deployment != "" {
		if err := w.DeleteDeployment(ctx, d.Deployment); err != nil {
			return "", fmt.Errorf("deleting deployment %s: %w", d.Deployment, err)
		}
		return "deleted deployment " + d.Deployment + " and its pods", nil
	}
	before, _ := r.lab.Snapshot().Pod(d.Pod)
	if err := w.DeletePod(ctx, d.Pod, d.GracePeriod0); err != nil {
		return "", fmt.Errorf("deleting pod %s: %w", d.Pod, err)
	}
	if !d.GracePeriod0 {
		return "deleted " + d.Pod + " (CNI DEL ran)", nil
	}
	msg := "force-deleted " + d.Pod + ": its sandbox is gone without a CNI DEL"
	if before.IP != "" && before.Node != "" {
		msg += fmt.Sprintf(", so ipamd on %s keeps %s assigned until aws-node restarts (its start-up finds no host veth for it)", before.Node, before.IP)
	}
	return msg, nil
}

// summaryNodes is how many nodes a deployment's summary names; a fleet's
// deployment spreads over hundreds, which the report lists pod by pod.
const summaryNodes = 8

// DeploymentSummary counts a deployment's pods by state and node (the
// first summaryNodes of them), with the scheduler's message for the
// pending ones.
func DeploymentSummary(s Snapshot, dep string) string {
	perNode := map[string]int{}
	var order []string
	running, pending, unscheduled := 0, 0, 0
	why := ""
	for _, p := range s.Pods {
		if !ownedBy(p, dep) {
			continue
		}
		switch {
		case p.Node == "":
			unscheduled++
			why = p.Message
			continue
		case labPhase(p.Phase) == PodRunning:
			running++
		default:
			pending++
		}
		if perNode[p.Node] == 0 {
			order = append(order, p.Node)
		}
		perNode[p.Node]++
	}
	var parts []string
	for _, n := range order[:min(len(order), summaryNodes)] {
		parts = append(parts, fmt.Sprintf("%s %d", n, perNode[n]))
	}
	if more := len(order) - summaryNodes; more > 0 {
		parts = append(parts, fmt.Sprintf("… %d more nodes", more))
	}
	out := fmt.Sprintf("%s: %d of %d pods bound", dep, running+pending, running+pending+unscheduled)
	if len(parts) > 0 {
		out += " (" + strings.Join(parts, ", ") + ")"
	}
	if unscheduled > 0 {
		out += fmt.Sprintf("; %d Pending unscheduled: %s", unscheduled, why)
	}
	return out
}

// ownedBy reports whether p is a pod of the deployment (<dep>-<n>).
func ownedBy(p PodState, dep string) bool {
	name := strings.TrimPrefix(p.Name, p.Node+"/")
	rest, ok := strings.CutPrefix(name, dep+"-")
	if !ok {
		return false
	}
	_, err := strconv.Atoi(rest)
	return err == nil
}
