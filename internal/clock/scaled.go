package clock

import "time"

// Scaled runs lab time faster (or slower) than the wall clock: a lab
// duration d takes d × Scale of real time, so with Scale 0.01 EC2's 5 s
// attach takes 50 ms and ipamd's 5 s pool check runs every 50 ms.
type Scaled struct {
	scale     float64
	realStart time.Time
	labStart  time.Time
}

// NewScaled returns a clock whose lab time starts at labStart and advances
// 1/scale times as fast as the wall clock. A scale ≤ 0 means 1.
func NewScaled(scale float64, labStart time.Time) *Scaled {
	if scale <= 0 {
		scale = 1
	}
	return &Scaled{scale: scale, realStart: time.Now(), labStart: labStart}
}

// Scale returns the factor that turns lab durations into real ones.
func (s *Scaled) Scale() float64 { return s.scale }

// Real converts a lab duration to the wall-clock duration it takes.
func (s *Scaled) Real(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.scale)
}

// Lab converts a wall-clock duration to lab time.
func (s *Scaled) Lab(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.scale)
}

// Now returns lab time.
func (s *Scaled) Now() time.Time {
	return s.labStart.Add(s.Lab(time.Since(s.realStart)))
}

// NewTimer fires after d of lab time.
func (s *Scaled) NewTimer(d time.Duration) Timer {
	return &scaledTimer{s: s, t: realTimer{time.NewTimer(s.Real(d))}}
}

// NewTicker fires every d of lab time.
func (s *Scaled) NewTicker(d time.Duration) Ticker {
	r := s.Real(d)
	if r <= 0 {
		r = time.Nanosecond
	}
	return &scaledTicker{s: s, t: realTicker{time.NewTicker(r)}}
}

// The channels deliver wall-clock instants; callers of a lab clock read Now
// when they need lab time, so the value sent is not translated.
type scaledTimer struct {
	s *Scaled
	t realTimer
}

func (t *scaledTimer) C() <-chan time.Time        { return t.t.C() }
func (t *scaledTimer) Stop() bool                 { return t.t.Stop() }
func (t *scaledTimer) Reset(d time.Duration) bool { return t.t.Reset(t.s.Real(d)) }

type scaledTicker struct {
	s *Scaled
	t realTicker
}

func (t *scaledTicker) C() <-chan time.Time { return t.t.C() }
func (t *scaledTicker) Stop()               { t.t.Stop() }
func (t *scaledTicker) Reset(d time.Duration) {
	r := t.s.Real(d)
	if r <= 0 {
		r = time.Nanosecond
	}
	t.t.Reset(r)
}
