package scenario

import (
	"context"
	"sync"
	"time"
)

// monitor prints a node's pool line whenever its figures move: on its own
// ticker, and whenever the runner asks (at the end of every step, so a
// step's effect is shown before the step is reported done).
type monitor struct {
	r      *runner
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu   sync.Mutex
	last map[string]NodeState
	// shown counts, per node, the aws-node events already printed.
	shown map[string]int
	// rec keeps every look for the report's time series.
	rec *seriesRecorder
}

func (m *monitor) look() {
	m.mu.Lock()
	defer m.mu.Unlock()
	snap := m.r.lab.Snapshot()
	at := m.r.at()
	m.rec.look(at, snap)
	for _, n := range snap.Nodes {
		// The events first: they happened before the figures they moved.
		m.events(n)
		prev, seen := m.last[n.Name]
		if !seen {
			m.r.tl.Pool(at, nil, n)
		} else if poolChanged(prev, n) {
			m.r.tl.Pool(at, &prev, n)
		}
		m.last[n.Name] = n
	}
}

// events prints the node's aws-node events not shown yet, each at its own
// lab time.
func (m *monitor) events(n NodeState) {
	for _, e := range n.IPAMDEvents[min(m.shown[n.Name], len(n.IPAMDEvents)):] {
		m.r.tl.IPAMDEvent(e.At.Sub(m.r.labStart), n.Name, e)
	}
	m.shown[n.Name] = len(n.IPAMDEvents)
}

func (r *runner) startMonitor(ctx context.Context) *monitor {
	ctx, cancel := context.WithCancel(ctx)
	m := &monitor{r: r, cancel: cancel, done: make(chan struct{}), last: map[string]NodeState{}, shown: map[string]int{}, rec: newSeriesRecorder()}
	if r.mon != nil {
		// A live lab's next step: events already printed stay printed,
		// and the time series goes on.
		m.last, m.shown, m.rec = r.mon.last, r.mon.shown, r.mon.rec
	}
	m.look()
	go func() {
		defer close(m.done)
		tick := time.NewTicker(r.opts.Poll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				m.look()
			}
		}
	}()
	return m
}

// stop ends the monitor after one last look and puts the time series into
// the report; idempotent.
func (m *monitor) stop() {
	m.once.Do(func() {
		m.cancel()
		<-m.done
		m.look()
		m.r.rep.Series = m.rec.series()
	})
}
