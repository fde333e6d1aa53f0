package node

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// Besides its errors (causes.go), ipamd's log says what it does: ENIs
// created, attached and freed, addresses and prefixes allocated and
// released, EC2 calls throttled, and the pool decisions behind them. The
// node keeps those lines as events, in ipamd's own words (upstream's log
// wording), so the timeline shows them as they happen and an operator can
// grep ipamd.log for the same text.

// eventKind says how the timeline treats a line of ipamd's log.
type eventKind int

const (
	notAnEvent eventKind = iota
	// lifecycle: an ENI or its addresses changed; shown by default.
	lifecycle
	// throttle: an EC2 call was throttled and will be retried; shown by
	// default, a warning, at most once per shape per causeRepeat.
	throttle
	// decision: the pool manager's reasoning; shown with --verbose only,
	// at most once per shape per causeRepeat.
	decision
)

// ipamdEvents maps the start of ipamd's messages (upstream's wording, see
// ipamd/grow.go, shrink.go, poolmgr.go and awsapi) to what they are.
var ipamdEvents = []struct {
	prefix string
	kind   eventKind
}{
	{"Successfully created and attached a new ENI", lifecycle},
	{"Allocated ", lifecycle},
	{"Trying to unassign the following", lifecycle},
	{"Successfully detached ENI", lifecycle},
	{"Successfully deleted ENI", lifecycle},
	// restore.go: a checkpoint entry whose pod left without a CNI DEL.
	{"stale IP allocation for ID", lifecycle},
	{"EC2 API call throttled", throttle},
	{"IP pool is too low", decision},
	{"Prefix pool is high", decision},
	{"Starting to increase pool size", decision},
	{"Starting to decrease pool size", decision},
	{"Skipping ENI allocation as the max ENI limit is already reached", decision},
	{"Recently we had InsufficientCidr error", decision},
}

// maxLifecycleEvents bounds the ENI and address events one node keeps.
const maxLifecycleEvents = 1000

func classify(msg string) eventKind {
	for _, e := range ipamdEvents {
		if strings.HasPrefix(msg, e.prefix) {
			return e.kind
		}
	}
	return notAnEvent
}

// eventHandler is the slog.Handler that hands ipamd's events to its node.
type eventHandler struct{ n *Node }

func (h eventHandler) Enabled(_ context.Context, l slog.Level) bool { return l < slog.LevelError }

func (h eventHandler) Handle(_ context.Context, r slog.Record) error {
	kind := classify(r.Message)
	if kind == notAnEvent {
		return nil
	}
	msg := r.Message
	if kind == throttle {
		msg += ":" + attrText(r, "action", "code") + " (attempt" + attrText(r, "attempt") + ")"
	}
	h.n.noteEvent(kind, msg)
	return nil
}

func (h eventHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h eventHandler) WithGroup(string) slog.Handler      { return h }

// attrText joins the record's values of keys, each after a space.
func attrText(r slog.Record, keys ...string) string {
	var b strings.Builder
	for _, k := range keys {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == k {
				b.WriteString(" " + a.Value.String())
				return false
			}
			return true
		})
	}
	return b.String()
}

// noteEvent records one of ipamd's events; throttles and decisions of the
// same shape (ids and numbers aside) are kept once per causeRepeat.
func (n *Node) noteEvent(kind eventKind, msg string) {
	now := n.lab.clock.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	c := &n.causes
	if kind == lifecycle {
		if c.lifecycle >= maxLifecycleEvents {
			return
		}
		c.lifecycle++
	} else if !c.fresh(idsAndNumbers.ReplaceAllString(msg, "#"), now) {
		return
	}
	n.aws.events = append(n.aws.events, IPAMDEvent{At: now, Warning: kind == throttle, Detail: kind == decision, Message: "ipamd: " + msg})
}

// fresh reports whether shape was not shown within causeRepeat of now and
// the node's budget of such events is not spent, and if so marks it shown.
func (c *causes) fresh(shape string, now time.Time) bool {
	if last, ok := c.shown[shape]; ok && now.Sub(last) < causeRepeat || c.events >= maxCauseEvents {
		return false
	}
	if c.shown == nil {
		c.shown = map[string]time.Time{}
	}
	c.shown[shape] = now
	c.events++
	return true
}
