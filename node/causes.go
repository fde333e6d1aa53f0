package node

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// ipamd's errors are the causes an operator looks for (an EC2 call that
// failed and with which code, a subnet out of addresses): the node keeps
// them as events for the timeline, and the last one, an EC2 error first,
// explains a pod that waits for an address.

// causeRepeat is how long the same cause (ids and numbers aside) is not
// repeated as an event: ipamd retries every pool check.
const causeRepeat = time.Minute

// maxCauseEvents bounds the events one node keeps; ipamd.log has them all.
const maxCauseEvents = 200

// causeHandler is the slog.Handler that hands ipamd's errors to its node.
type causeHandler struct{ n *Node }

func (h causeHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (h causeHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			msg += ": " + a.Value.String()
		}
		return true
	})
	h.n.noteCause(msg)
	return nil
}

func (h causeHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h causeHandler) WithGroup(string) slog.Handler      { return h }

// causes are ipamd's recent errors: the last one, the last EC2 error
// (its text names an EC2 error code), and when each shape (ids and numbers
// aside) was last shown as an event.
type causes struct {
	msg, ec2      string
	seen, ec2Seen time.Time
	shown         map[string]time.Time
	events        int
	// lifecycle counts the ENI and address events kept (events.go).
	lifecycle int
}

var idsAndNumbers = regexp.MustCompile(`RequestID: [0-9a-f-]+|\b(eni|i|subnet|eni-attach)-[0-9a-f]+\b|[0-9]+`)

// noteCause records msg as the node's last cause and, unless the same
// shape was shown within causeRepeat, as an event.
func (n *Node) noteCause(msg string) {
	now := n.lab.clock.Now()
	shape := idsAndNumbers.ReplaceAllString(msg, "#")
	n.mu.Lock()
	defer n.mu.Unlock()
	c := &n.causes
	c.msg, c.seen = msg, now
	if strings.Contains(msg, "api error ") {
		c.ec2, c.ec2Seen = msg, now
	}
	if !c.fresh(shape, now) {
		return
	}
	n.aws.events = append(n.aws.events, IPAMDEvent{At: now, Warning: true, Message: "ipamd: " + msg})
}

// lastCause is ipamd's last EC2 error seen within window of now, else its
// last error seen within window, else "".
func (n *Node) lastCause(window time.Duration) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.lab.clock.Now()
	switch c := n.causes; {
	case c.ec2 != "" && now.Sub(c.ec2Seen) <= window:
		return c.ec2
	case c.msg != "" && now.Sub(c.seen) <= window:
		return c.msg
	}
	return ""
}
