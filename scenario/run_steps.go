package scenario

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/internal/datapath"
)

// step runs one step and records its outcome.
func (r *runner) step(ctx context.Context, st Step) {
	total := len(r.sc.Steps)
	if st.Index >= total {
		// A step sent to a live lab numbers on from the file's.
		total = st.Index + 1
	}
	start := r.at()
	r.tl.StepStart(start, st, total)
	msg, err := r.do(ctx, st)
	end := r.at()
	if ctx.Err() != nil {
		r.rep.Steps = append(r.rep.Steps, StepReport{Index: st.Index, Kind: st.Kind, OK: false, Message: "interrupted", LabMs: end.Milliseconds()})
		return
	}
	r.mon.look()
	ok := err == nil
	if !ok {
		msg = err.Error()
		var ef *ExpectFailure
		if errors.As(err, &ef) {
			r.failures = append(r.failures, msg)
		} else {
			r.failures = append(r.failures, fmt.Sprintf("steps[%d] %s (line %d): %s", st.Index, st.Kind, st.Line, msg))
		}
	}
	r.tl.StepEnd(end, st, total, ok, end-start, msg)
	r.rep.Steps = append(r.rep.Steps, StepReport{Index: st.Index, Kind: st.Kind, OK: ok, Message: msg, LabMs: end.Milliseconds()})
}

func (r *runner) do(ctx context.Context, st Step) (string, error) {
	switch st.Kind {
	case KindPods:
		return r.pods(ctx, st.Pods)
	case KindExpect:
		return r.expect(ctx, st)
	case KindFault:
		if r.opts.Lab.Replay != nil {
			return "not added: --replay injects the faults recorded in the trace instead", nil
		}
		name, err := r.lab.AddFault(*st.Fault)
		if err != nil {
			return "", fmt.Errorf("adding fault: %w", err)
		}
		return fmt.Sprintf("fault %q active", name), nil
	case KindRestart:
		if st.Restart.Down > 0 {
			return r.restartWindow(ctx, st.Restart)
		}
		if err := r.lab.RestartIPAMD(ctx, st.Restart.Node, st.Restart.Env); err != nil {
			return "", fmt.Errorf("restarting ipamd on %s: %w", st.Restart.Node, err)
		}
		return r.ipamdOutcome(st.Restart.Node, "ipamd restarted on "+st.Restart.Node), nil
	case KindCheckpoint:
		c := st.Checkpoint
		if err := r.lab.Checkpoint(ctx, c.Node, c.Action); err != nil {
			return "", fmt.Errorf("checkpoint %s on %s: %w", c.Action, c.Node, err)
		}
		return checkpointDone(c) + "; ipamd reads it at its next start", nil
	case KindDeploy:
		return r.deploy(ctx, st.Deploy)
	case KindDelete:
		return r.deleteStep(ctx, st.Delete)
	case KindNodes:
		return r.nodesStep(ctx, st.Nodes)
	case KindIPAMD:
		return r.rollout(ctx, st.IPAMD)
	case KindPing:
		return r.ping(ctx, st.Ping)
	case KindCurl:
		return r.curl(ctx, st.Curl)
	case KindSleep:
		return r.sleep(ctx, st.Sleep)
	case KindBreakRule:
		if err := r.lab.BreakRule(ctx, st.Rule.Pod); err != nil {
			return "", fmt.Errorf("deleting the from-IP rule of %s: %w", st.Rule.Pod, err)
		}
		return fmt.Sprintf("deleted the priority-%d rule of %s: its replies now leave by the primary ENI", datapath.FromPodRulePriority, st.Rule.Pod), nil
	case KindFixRule:
		if err := r.lab.FixRule(ctx, st.Rule.Pod); err != nil {
			return "", fmt.Errorf("restoring the from-IP rule of %s: %w", st.Rule.Pod, err)
		}
		return fmt.Sprintf("restored the priority-%d rule of %s", datapath.FromPodRulePriority, st.Rule.Pod), nil
	}
	return "", fmt.Errorf("unknown step kind %q", st.Kind)
}

// ipamdOutcome is ok, unless the node's ipamd is not running: then it
// says so, with its last error (the crash loop goes on in the lab; later
// expects pin it).
func (r *runner) ipamdOutcome(node, ok string) string {
	n, found := r.lab.Snapshot().Node(node)
	if !found || n.IPAMD == "" || n.IPAMD == IPAMDRunning {
		return ok
	}
	return fmt.Sprintf("ipamd on %s did not start (%s): %s", node, n.IPAMD, n.IPAMDError)
}

// checkpointDone says what a checkpoint step did.
func checkpointDone(c *CheckpointStep) string {
	switch c.Action {
	case CheckpointCorrupt:
		return "truncated the ipamd checkpoint of " + c.Node
	case CheckpointWrongVersion:
		return "wrote a version ipamd does not read into the checkpoint of " + c.Node
	case CheckpointRemove:
		return "removed the ipamd checkpoint of " + c.Node
	case CheckpointRebuild:
		return fmt.Sprintf("rewrote the ipamd checkpoint of %s from its running pods", c.Node)
	}
	return c.Action + " on the ipamd checkpoint of " + c.Node
}

// pods adds or deletes pods; added pods are numbered on from the node's
// last, as the lab names them.
func (r *runner) pods(ctx context.Context, p *PodsStep) (string, error) {
	if p.Add == 0 {
		if err := r.lab.DeletePods(ctx, p.Node, p.Delete); err != nil {
			return "", fmt.Errorf("deleting %d pods from %s: %w", p.Delete, p.Node, err)
		}
		return fmt.Sprintf("deleted the %d newest pods of %s", p.Delete, p.Node), nil
	}
	if err := r.lab.AddPods(ctx, p.Node, p.Add); err != nil {
		return "", fmt.Errorf("adding %d pods to %s: %w", p.Add, p.Node, err)
	}
	first := r.created[p.Node] + 1
	r.created[p.Node] += p.Add
	if p.Add == 1 {
		return "created " + datapath.PodName(p.Node, first), nil
	}
	return fmt.Sprintf("created %s … %s", datapath.PodName(p.Node, first), datapath.PodK8sName(r.created[p.Node])), nil
}

// expect polls the lab until the expectation holds or its lab-time limit
// passes, printing progress on long waits.
func (r *runner) expect(ctx context.Context, st Step) (string, error) {
	e := st.Expect
	start := r.at()
	deadline := start + e.Within
	lastProgress, lastProgressReal := start, time.Now()
	tick := time.NewTicker(r.opts.Poll)
	defer tick.Stop()
	for {
		miss := e.Check(r.lab.Snapshot())
		now := r.at()
		if len(miss) == 0 {
			if now-start < time.Millisecond {
				return "held at once", nil
			}
			return fmt.Sprintf("held after %s", fmtDur(now-start)), nil
		}
		if now >= deadline {
			return "", &ExpectFailure{Step: st, Mismatches: miss}
		}
		if now-lastProgress >= r.opts.ProgressEvery && time.Since(lastProgressReal) >= time.Second {
			r.tl.Progress(now, "waiting %s of %s: %s", fmtDur(now-start), fmtDur(e.Within), mismatchList(miss))
			lastProgress, lastProgressReal = now, time.Now()
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-tick.C:
		}
	}
}

// sleep waits in chunks so that a long sleep shows it is alive.
func (r *runner) sleep(ctx context.Context, d time.Duration) (string, error) {
	start := r.at()
	lastReal := time.Now()
	for {
		left := d - (r.at() - start)
		if left <= 0 {
			return "slept " + fmtDur(d), nil
		}
		if err := clock.Sleep(ctx, r.clk, min(left, r.opts.ProgressEvery)); err != nil {
			return "", err
		}
		if done := r.at() - start; done < d && time.Since(lastReal) >= time.Second {
			r.tl.Progress(r.at(), "slept %s of %s", fmtDur(done), fmtDur(d))
			lastReal = time.Now()
		}
	}
}

func mismatchList(ms []Mismatch) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return strings.Join(parts, "; ")
}

func (r *runner) ping(ctx context.Context, p *PingStep) (string, error) {
	start := r.at()
	want := "replies"
	if !p.ExpectOK {
		want = "no reply"
	}
	for attempt := 1; ; attempt++ {
		err := r.lab.Ping(ctx, p.From, p.To)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if (err == nil) == p.ExpectOK {
			if err == nil {
				return "replies came back", nil
			}
			return fmt.Sprintf("no reply, as expected (%v)", err), nil
		}
		if r.at()-start >= p.Within {
			got := "replies came back"
			if err != nil {
				got = fmt.Sprintf("no reply: %v", err)
			}
			return "", fmt.Errorf("ping %s → %s: want %s, got %s (%d attempts)", p.From, p.To, want, got, attempt)
		}
		if err := clock.Sleep(ctx, r.clk, time.Second); err != nil {
			return "", err
		}
	}
}
