package node

import "time"

// Kubelet's container restart back-off: pkg/kubelet's backOffPeriod and
// MaxContainerBackOff, kept per container by client-go's
// flowcontrol.Backoff (no jitter for containers).
const (
	CrashLoopBackOffInitial = 10 * time.Second
	CrashLoopBackOffMax     = 300 * time.Second
)

// backOff is flowcontrol.Backoff for one container as kubelet's doBackOff
// uses it: after an exit at `finished`, the container waits delay (counted
// from the exit) unless the entry is missing or has expired; each restart
// doubles the delay up to the cap. An entry expires when the exit comes
// more than 2 × MaxContainerBackOff (10 min) after the last restart, i.e.
// once the container ran for 10 min, so the next crash restarts at once and
// the back-off starts over at 10 s.
type backOff struct {
	delay      time.Duration // the entry's back-off; 0 = no entry
	lastUpdate time.Time     // when the entry last moved (the last restart)
}

// expired is flowcontrol's hasExpired.
func (b *backOff) expired(finished time.Time) bool {
	return b.delay == 0 || finished.Sub(b.lastUpdate) > 2*CrashLoopBackOffMax
}

// wait is how long after the exit at finished kubelet restarts the
// container (IsInBackOffSince: 0 = at once).
func (b *backOff) wait(finished time.Time) time.Duration {
	if b.expired(finished) {
		return 0
	}
	return b.delay
}

// next moves the entry at a restart at now, after the exit at finished
// (flowcontrol.Backoff.Next).
func (b *backOff) next(finished, now time.Time) {
	if b.expired(finished) {
		b.delay = CrashLoopBackOffInitial
	} else {
		b.delay = min(2*b.delay, CrashLoopBackOffMax)
	}
	b.lastUpdate = now
}
