package scenario

import (
	"context"
	"fmt"
	"strings"
)

// insufficientAddresses is EC2's error code when a subnet has no free
// address left (RunInstances, CreateNetworkInterface, AssignPrivateIp…).
const insufficientAddresses = "InsufficientFreeAddressesInSubnet"

// nodesStep adds nodes to a group or removes its newest ones (drained
// first). A node whose RunInstances fails for want of addresses is the
// situation, not a failure of the step: on AWS the node group's launch
// fails the same way and no node ever becomes Ready.
func (r *runner) nodesStep(ctx context.Context, s *NodesStep) (string, error) {
	if s.Remove > 0 {
		return r.removeNodes(ctx, s)
	}
	var done []string
	launch := r.launcher(ctx, s.Nodes)
	var snap Snapshot
	for i, spec := range s.Nodes {
		err := launch(i)
		switch {
		case err != nil && ctx.Err() != nil:
			return "", ctx.Err()
		case err != nil && strings.Contains(err.Error(), insufficientAddresses):
			r.tl.Printf(r.at(), "  node %s never becomes Ready: its instance did not launch (%s)", spec.Name, err)
			done = append(done, spec.Name+" did not launch ("+insufficientAddresses+")")
			continue
		case err != nil:
			return "", fmt.Errorf("adding node %s to %s: %w", spec.Name, s.Group, err)
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		n := r.upNode(spec.Name, &snap)
		r.tl.Printf(r.at(), "  node %s up: %s %s in %s (max pods %d)", spec.Name, n.InstanceID, spec.InstanceType, spec.Subnet, n.MaxPods)
		if n.IPAMD != "" && n.IPAMD != IPAMDRunning {
			r.tl.Printf(r.at(), "  %s", r.ipamdOutcome(spec.Name, ""))
		}
		done = append(done, spec.Name+" up")
	}
	return fmt.Sprintf("node group %s: %s", s.Group, strings.Join(done, ", ")), nil
}

// removeNodes drains and terminates nodes.
func (r *runner) removeNodes(ctx context.Context, s *NodesStep) (string, error) {
	w, err := r.workloads()
	if err != nil {
		return "", err
	}
	var names, never []string
	for _, n := range s.Nodes {
		if _, ok := r.lab.Snapshot().Node(n.Name); !ok {
			// Its instance never launched: the group has nothing to
			// terminate for it.
			never = append(never, n.Name)
			continue
		}
		if err := w.RemoveNode(ctx, n.Name); err != nil {
			return "", fmt.Errorf("removing node %s: %w", n.Name, err)
		}
		names = append(names, n.Name)
	}
	msg := fmt.Sprintf("node group %s: ", s.Group)
	if len(names) > 0 {
		msg += fmt.Sprintf("drained and terminated %s (pods rescheduled, ENIs deleted on termination as DeleteOnTermination says)", strings.Join(names, ", "))
	}
	if len(never) > 0 {
		if len(names) > 0 {
			msg += "; "
		}
		msg += strings.Join(never, ", ") + " never launched"
	}
	return msg, nil
}
