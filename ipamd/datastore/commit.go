package datastore

import "sync"

// groupCommit writes checkpoints so that every change is on disk before the
// call that made it returns, while changes made during one write share the
// next one: a change stages a snapshot (under the store's lock, so the
// snapshots are numbered in the order of the changes) and waits, without
// the store's lock, until a write of its snapshot or a later one has
// finished. One waiter at a time writes, always the newest staged snapshot,
// so the file only ever moves forward. A crash before a change's write
// leaves the previous file, and the change was never acknowledged; this is
// upstream's checkpoint-before-reply guarantee, with one fsync for many
// concurrent ADDs instead of one each.
type groupCommit struct {
	save func(Checkpoint) error

	mu        sync.Mutex
	cond      *sync.Cond
	latest    Checkpoint
	latestGen uint64
	durable   uint64 // newest snapshot written
	failedGen uint64 // newest snapshot whose write failed
	failErr   error
	writing   bool
}

func newGroupCommit(save func(Checkpoint) error) *groupCommit {
	g := &groupCommit{save: save}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// stage offers the snapshot of change gen.
func (g *groupCommit) stage(gen uint64, cp Checkpoint) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gen > g.latestGen {
		g.latest, g.latestGen = cp, gen
	}
}

// wait returns once change gen is written (nil) or the write holding it
// failed (that error); it writes itself when no one else is writing.
func (g *groupCommit) wait(gen uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		switch {
		case g.durable >= gen:
			return nil
		case g.failedGen >= gen:
			return g.failErr
		case !g.writing:
			g.writing = true
			cp, at := g.latest, g.latestGen
			g.mu.Unlock()
			err := g.save(cp)
			g.mu.Lock()
			g.writing = false
			if err == nil {
				g.durable = at
			} else {
				g.failedGen, g.failErr = at, err
			}
			g.cond.Broadcast()
		default:
			g.cond.Wait()
		}
	}
}
