package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a clock that moves only when told to, for unit tests. Timers and
// tickers fire, in order of their deadlines, as Advance passes them.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeWaiter
}

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves time forward by d, firing every timer and ticker due on the
// way in deadline order.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	end := f.now.Add(d)
	for {
		w := f.nextDue(end)
		if w == nil {
			break
		}
		f.now = w.when
		w.fire(f)
	}
	f.now = end
	f.mu.Unlock()
}

// Set moves time to t (if later than now), like Advance.
func (f *Fake) Set(t time.Time) { f.Advance(t.Sub(f.Now())) }

// Waiters returns how many timers and tickers are pending; tests use it to
// wait until a goroutine under test has armed its timer.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// BlockUntil waits (in real time) until at least n timers or tickers are
// pending.
func (f *Fake) BlockUntil(n int) {
	for f.Waiters() < n {
		time.Sleep(time.Millisecond)
	}
}

func (f *Fake) nextDue(end time.Time) *fakeWaiter {
	sort.SliceStable(f.waiters, func(i, j int) bool { return f.waiters[i].when.Before(f.waiters[j].when) })
	if len(f.waiters) == 0 || f.waiters[0].when.After(end) {
		return nil
	}
	return f.waiters[0]
}

func (f *Fake) remove(w *fakeWaiter) bool {
	for i, x := range f.waiters {
		if x == w {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// NewTimer returns a timer that fires when Advance passes now+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &fakeWaiter{c: make(chan time.Time, 1), when: f.now.Add(d)}
	f.waiters = append(f.waiters, w)
	return &fakeTimer{f: f, w: w}
}

// NewTicker returns a ticker that fires every d of fake time.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker period")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &fakeWaiter{c: make(chan time.Time, 1), when: f.now.Add(d), period: d}
	f.waiters = append(f.waiters, w)
	return &fakeTicker{f: f, w: w}
}

type fakeWaiter struct {
	c      chan time.Time
	when   time.Time
	period time.Duration
}

// fire delivers without blocking (like the runtime's timers, a slow reader
// misses ticks) and re-arms a ticker.
func (w *fakeWaiter) fire(f *Fake) {
	select {
	case w.c <- w.when:
	default:
	}
	if w.period > 0 {
		w.when = w.when.Add(w.period)
		return
	}
	f.remove(w)
}

type fakeTimer struct {
	f *Fake
	w *fakeWaiter
}

func (t *fakeTimer) C() <-chan time.Time { return t.w.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	return t.f.remove(t.w)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	active := t.f.remove(t.w)
	t.w.when = t.f.now.Add(d)
	t.f.waiters = append(t.f.waiters, t.w)
	return active
}

type fakeTicker struct {
	f *Fake
	w *fakeWaiter
}

func (t *fakeTicker) C() <-chan time.Time { return t.w.c }

func (t *fakeTicker) Stop() {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.f.remove(t.w)
}

func (t *fakeTicker) Reset(d time.Duration) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.f.remove(t.w)
	t.w.period = d
	t.w.when = t.f.now.Add(d)
	t.f.waiters = append(t.f.waiters, t.w)
}
