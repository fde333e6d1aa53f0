// Package clock is the one source of time for every part of a lab. fakeec2's
// token buckets, latencies and fault windows, ipamd's periods and the node's
// hot-plug delays all read it, so a scaled clock speeds a whole lab up
// consistently and a fake clock lets unit tests step time by hand.
package clock

import (
	"context"
	"time"
)

// Clock tells lab time and waits in lab time.
type Clock interface {
	Now() time.Time
	// NewTimer fires once after d of lab time.
	NewTimer(d time.Duration) Timer
	// NewTicker fires every d of lab time; d must be positive.
	NewTicker(d time.Duration) Ticker
}

// Timer is the lab-time counterpart of time.Timer.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// Ticker is the lab-time counterpart of time.Ticker.
type Ticker interface {
	C() <-chan time.Time
	Stop()
	Reset(d time.Duration)
}

// Since returns the lab time elapsed since t.
func Since(c Clock, t time.Time) time.Duration { return c.Now().Sub(t) }

// Sleep waits d of lab time or until ctx is done, whichever comes first; it
// returns ctx.Err() when interrupted.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// Real is the wall clock.
type Real struct{}

// Now returns the wall-clock time.
func (Real) Now() time.Time { return time.Now() }

// NewTimer returns a wall-clock timer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// NewTicker returns a wall-clock ticker.
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Stop()                 { r.t.Stop() }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }
