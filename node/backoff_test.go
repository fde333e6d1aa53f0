package node

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Kubelet's doBackOff over flowcontrol.Backoff for a container that exits
// at start-up every time: the first exit restarts at once, then 10 s,
// doubling, capped at 5 min.
func TestCrashLoopBackOffSequenceAsKubeletDoBackOff(t *testing.T) {
	var b backOff
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var waits []time.Duration
	for range 8 {
		w := b.wait(now) // the container exited at now
		waits = append(waits, w)
		now = now.Add(w)
		b.next(now.Add(-w), now) // kubelet restarts it; it exits again at once
	}
	s := time.Second
	assert.Equal(t, []time.Duration{0, 10 * s, 20 * s, 40 * s, 80 * s, 160 * s, 300 * s, 300 * s}, waits)
}

// flowcontrol.Backoff's hasExpired: an exit more than 2 × MaxContainerBackOff
// after the last restart (the container ran over 10 min) restarts at once
// and the back-off starts over at 10 s; an exit within 10 min keeps the
// grown back-off.
func TestCrashLoopBackOffResetsAfterTenMinutesRunning(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	grown := func() (backOff, time.Time) {
		var b backOff
		now := start
		for range 4 {
			w := b.wait(now)
			now = now.Add(w)
			b.next(now.Add(-w), now)
		}
		return b, now // restarted at now with an 80 s back-off pending
	}
	b, restarted := grown()
	assert.Equal(t, 80*time.Second, b.wait(restarted.Add(9*time.Minute)), "ran 9 min: the back-off holds")
	assert.Equal(t, 80*time.Second, b.wait(restarted.Add(10*time.Minute)), "ran exactly 10 min: not yet expired")

	b, restarted = grown()
	exit := restarted.Add(10*time.Minute + time.Second)
	assert.Zero(t, b.wait(exit), "ran over 10 min: restarted at once")
	b.next(exit, exit)
	assert.Equal(t, 10*time.Second, b.wait(exit), "then 10 s again")
}
