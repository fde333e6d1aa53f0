package ipamd

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/enilab/enilab/internal/clock"
)

// sleepClock is the clock ipamd's backoffs sleep on (Daemon.sleep: the
// IMDS wait, EC2 retries, ENI attach and delete waits). It is the Daemon's
// clock plus a count of sleeps in progress (Daemon.sleepers), so a test
// driving a fake clock can tell "waiting for lab time to pass" from "still
// working" (see quiescent in harness_test.go); production code never reads
// the count. Every sleep goes through clock.Sleep, which stops its timer
// when done; Stop decrements the count once.
type sleepClock struct {
	clock.Clock
	sleepers *atomic.Int32
}

func (c sleepClock) NewTimer(d time.Duration) clock.Timer {
	c.sleepers.Add(1)
	return &sleepTimer{Timer: c.Clock.NewTimer(d), sleepers: c.sleepers}
}

type sleepTimer struct {
	clock.Timer
	sleepers *atomic.Int32
	once     sync.Once
}

func (t *sleepTimer) Stop() bool {
	t.once.Do(func() { t.sleepers.Add(-1) })
	return t.Timer.Stop()
}
