package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/enilab/enilab/internal/clock"
)

// rolloutTimeout is how long (lab time) a rollout waits for one node's new
// aws-node pod to run before it reports the rollout stuck, as a DaemonSet
// rollout stops at a pod that does not become ready.
const rolloutTimeout = 3 * time.Minute

// rollout replaces the aws-node pods batch by batch with the new
// environment; the timeline says after each batch which nodes run which
// revision.
func (r *runner) rollout(ctx context.Context, s *IPAMDStep) (string, error) {
	w, err := r.workloads()
	if err != nil {
		return "", err
	}
	w.SetDaemonSetEnv(s.Set)
	var nodes []string
	for _, n := range r.lab.Snapshot().Nodes {
		nodes = append(nodes, n.Name)
	}
	for i := 0; i < len(nodes); i += s.MaxUnavailable {
		batch := nodes[i:min(i+s.MaxUnavailable, len(nodes))]
		for _, n := range batch {
			if err := r.lab.RestartIPAMD(ctx, n, s.Set); err != nil {
				return "", fmt.Errorf("restarting aws-node on %s: %w", n, err)
			}
		}
		for _, n := range batch {
			if err := r.waitRunning(ctx, n); err != nil {
				return "", fmt.Errorf("rollout of revision %d stuck at %s: %w", s.Revision, n, err)
			}
		}
		done, left := nodes[:i+len(batch)], nodes[i+len(batch):]
		line := fmt.Sprintf("  aws-node revision %d (%s) runs on %s", s.Revision, envString(s.Set), strings.Join(done, ", "))
		if len(left) > 0 {
			line += fmt.Sprintf("; revision %d still on %s", s.Revision-1, strings.Join(left, ", "))
		}
		r.tl.Printf(r.at(), "%s", line)
		if len(left) > 0 && s.MinReady > 0 {
			if err := clock.Sleep(ctx, r.clk, s.MinReady); err != nil {
				return "", err
			}
		}
	}
	return fmt.Sprintf("revision %d rolled out to %d nodes, %d at a time", s.Revision, len(nodes), s.MaxUnavailable), nil
}

// waitRunning polls until the node's aws-node runs, or fails with its state
// and last error after rolloutTimeout.
func (r *runner) waitRunning(ctx context.Context, node string) error {
	start := r.at()
	tick := time.NewTicker(r.opts.Poll)
	defer tick.Stop()
	for {
		n, ok := r.lab.Snapshot().Node(node)
		if !ok {
			return fmt.Errorf("node %s left the lab", node)
		}
		if n.IPAMD == "" || n.IPAMD == IPAMDRunning {
			return nil
		}
		if r.at()-start >= rolloutTimeout {
			return fmt.Errorf("aws-node is %s after %s: %s", n.IPAMD, fmtDur(rolloutTimeout), n.IPAMDError)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// restartWindow stops a node's ipamd for the step's duration and returns
// at once, so later steps see the window.
func (r *runner) restartWindow(ctx context.Context, s *RestartStep) (string, error) {
	w, err := r.workloads()
	if err != nil {
		return "", err
	}
	if err := w.StopIPAMDFor(ctx, s.Node, s.Env, s.Down); err != nil {
		return "", fmt.Errorf("stopping ipamd on %s for %s: %w", s.Node, fmtDur(s.Down), err)
	}
	return fmt.Sprintf("ipamd on %s stopped; it starts again in %s (until then every ADD fails to dial its socket and the kubelet backs off)", s.Node, fmtDur(s.Down)), nil
}
