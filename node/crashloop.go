package node

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/ipamd"
)

// States of the aws-node container, as kubectl shows them.
const (
	IPAMDRunning          = "Running"
	IPAMDCrashLoopBackOff = "CrashLoopBackOff"
)

// IPAMDEvent is one entry of the aws-node container's history: an exit
// (with ipamd's error and kubelet's back-off) or a restart that came up.
type IPAMDEvent struct {
	At     time.Time // lab time
	Exited bool
	// Warning marks one of ipamd's own errors, a cause (causes.go), or a
	// throttled EC2 call (events.go).
	Warning bool
	// Detail marks a pool decision of ipamd's, shown only when asked for
	// (events.go).
	Detail  bool
	Message string
}

// IPAMDStatus is the aws-node container as kubelet keeps it.
type IPAMDStatus struct {
	// State is IPAMDRunning or IPAMDCrashLoopBackOff ("" before ipamd
	// first ran, or on a node without ipamd).
	State string
	// Restarts counts restarts of the container since its pod was created
	// (AddNode, RestartIPAMD).
	Restarts int
	// LastError is the error of the last exit, "" while running.
	LastError string
	// Events is the history of every aws-node pod of the node, oldest
	// first.
	Events []IPAMDEvent
}

// awsNode is the kubelet's view of the node's aws-node container; Node.mu
// guards it.
type awsNode struct {
	state    string
	restarts int
	lastErr  string
	backOff  backOff
	events   []IPAMDEvent
	// pod counts aws-node pods (RestartIPAMD makes a new one): an exit
	// reported for an older pod's ipamd is dropped.
	pod int
	// The crash loop in progress, if any: cancel stops it, done is closed
	// once it has stopped.
	cancel context.CancelFunc
	done   chan struct{}
}

// IPAMDStatus returns the aws-node container's state and history.
func (n *Node) IPAMDStatus() IPAMDStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	return IPAMDStatus{State: n.aws.state, Restarts: n.aws.restarts, LastError: n.aws.lastErr, Events: slices.Clone(n.aws.events)}
}

// runIPAMD starts ipamd as the container of a new aws-node pod: restart
// count and back-off start over. When start-up fails (upstream's _main
// returns 1 on "Initialization failure"), the container has exited and the
// kubelet restarts it with its back-off (CrashLoopBackOff) until a start
// succeeds; that is the node's state, not an error of the caller. Only a
// node or context going away is returned.
func (n *Node) runIPAMD(ctx context.Context) error {
	n.mu.Lock()
	n.aws.restarts, n.aws.backOff, n.aws.lastErr = 0, backOff{}, ""
	n.mu.Unlock()
	err := n.newIPAMD(ctx)
	if err == nil {
		n.mu.Lock()
		n.aws.state = IPAMDRunning
		n.mu.Unlock()
		return nil
	}
	if ctx.Err() != nil || n.ctx.Err() != nil {
		return fmt.Errorf("node: %s: ipamd: %w", n.name, err)
	}
	n.mu.Lock()
	pod := n.aws.pod
	n.mu.Unlock()
	n.exited(pod, err)
	return nil
}

// onExit is the running ipamd d stopping on its own (upstream's aws-node
// exits when its gRPC handler fails): the container exited after running,
// so the kubelet's back-off applies as it stands, or starts over when d ran
// over 10 min.
func (n *Node) onExit(d *ipamd.Daemon, pod int, err error) {
	n.mu.Lock()
	if n.daemon != d {
		n.mu.Unlock()
		return // closed or replaced meanwhile
	}
	n.daemon, n.lastStat = nil, d.Status()
	n.mu.Unlock()
	_ = d.Close()
	n.exited(pod, err)
}

// exited records an exit of ipamd of aws-node pod `pod` and starts the
// kubelet's restart loop.
func (n *Node) exited(pod int, err error) {
	finished := n.lab.clock.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	// Under n.mu: close cancels n.ctx before taking n.mu, so a loop
	// started here is always one close waits for.
	if n.ctx.Err() != nil || pod != n.aws.pod {
		return
	}
	wait := n.recordExitLocked(finished, err)
	ctx, cancel := context.WithCancel(n.ctx)
	done := make(chan struct{})
	n.aws.cancel, n.aws.done = cancel, done
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer close(done)
		n.crashLoop(ctx, finished, wait)
	}()
}

// recordExitLocked notes an exit at finished and returns the kubelet's wait
// before the restart, with the kubelet's wording.
func (n *Node) recordExitLocked(finished time.Time, err error) time.Duration {
	wait := n.aws.backOff.wait(finished)
	n.aws.state, n.aws.lastErr = IPAMDCrashLoopBackOff, err.Error()
	msg := fmt.Sprintf("ipamd exited: %v; restarting failed container=aws-node", err)
	if wait > 0 {
		msg = fmt.Sprintf("ipamd exited: %v; back-off %s restarting failed container=aws-node (CrashLoopBackOff)", err, wait)
	}
	n.aws.events = append(n.aws.events, IPAMDEvent{At: finished, Exited: true, Message: msg})
	n.log.Warn("ipamd exited", "err", err, "backOff", wait, "restarts", n.aws.restarts)
	return wait
}

// crashLoop is the kubelet restarting aws-node: wait the back-off (lab
// time), restart, and again on each failed start-up, until one succeeds
// or ctx ends (node closed, or a new aws-node pod).
func (n *Node) crashLoop(ctx context.Context, finished time.Time, wait time.Duration) {
	for {
		if clock.Sleep(ctx, n.lab.clock, wait) != nil {
			return
		}
		n.mu.Lock()
		n.aws.backOff.next(finished, n.lab.clock.Now())
		n.aws.restarts++
		restart := n.aws.restarts
		n.mu.Unlock()
		err := n.newIPAMD(ctx)
		now := n.lab.clock.Now()
		if ctx.Err() != nil {
			return // a daemon that came up anyway is closed with the node or by RestartIPAMD
		}
		n.mu.Lock()
		if err == nil {
			n.aws.state, n.aws.lastErr = IPAMDRunning, ""
			n.aws.events = append(n.aws.events, IPAMDEvent{At: now, Message: fmt.Sprintf("ipamd running again (restart %d)", restart)})
			n.mu.Unlock()
			n.log.Info("ipamd running again", "restarts", restart)
			return
		}
		finished = now
		wait = n.recordExitLocked(finished, err)
		n.mu.Unlock()
	}
}

// stopCrashLoop ends the restart loop in progress, if any, and waits for
// it.
func (n *Node) stopCrashLoop() {
	n.mu.Lock()
	cancel, done := n.aws.cancel, n.aws.done
	n.aws.cancel, n.aws.done = nil, nil
	n.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}
