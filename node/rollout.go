package node

import (
	"time"

	"github.com/enilab/enilab/internal/clock"
)

// IPAMDStopped is the aws-node container's state while StopIPAMDFor keeps
// it down (its pod is being replaced).
const IPAMDStopped = "Stopped"

// StopIPAMDFor kills ipamd now and starts it again after down (lab time),
// as an aws-node pod replaced slowly (image pull, a node under pressure).
// It returns at once: while ipamd is down its socket is gone, so the
// plugin's ADD fails to dial it ("connect: no such file or directory") and
// the kubelet retries with its back-off; running pods are untouched. The
// restart belongs to the node (its close stops the wait).
func (n *Node) StopIPAMDFor(down time.Duration) error {
	if err := n.stopIPAMD(); err != nil {
		return err
	}
	n.mu.Lock()
	n.aws.state = IPAMDStopped
	n.mu.Unlock()
	n.Event("aws-node stopped: its pod is being replaced, ipamd's socket is gone")
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if clock.Sleep(n.ctx, n.lab.clock, down) != nil {
			return
		}
		if err := n.runIPAMD(n.ctx); err != nil {
			n.log.Debug("ipamd start after a stop", "err", err)
			return
		}
		if n.IPAMDStatus().State == IPAMDRunning {
			n.Event("aws-node started again: ipamd serves its socket")
		}
	}()
	return nil
}

// Event adds a line to the aws-node container's history (the timeline
// prints each once): what the lab did to it.
func (n *Node) Event(msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.aws.events = append(n.aws.events, IPAMDEvent{At: n.lab.clock.Now(), Message: msg})
}
