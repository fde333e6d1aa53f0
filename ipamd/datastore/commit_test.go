package datastore

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatedCheckpoint holds its first Save until the gate opens and remembers
// what each Save wrote.
type gatedCheckpoint struct {
	gate  chan struct{}
	fail  error
	mu    sync.Mutex
	saves int
	last  map[string]bool // container IDs of the last written checkpoint
}

func (g *gatedCheckpoint) Save(cp Checkpoint) error {
	if g.gate != nil {
		<-g.gate
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.saves++
	if g.fail != nil {
		return g.fail
	}
	g.last = map[string]bool{}
	for _, e := range cp.Allocations {
		g.last[e.ContainerID] = true
	}
	return nil
}

func (g *gatedCheckpoint) Load() (Checkpoint, bool, error) { return Checkpoint{}, false, nil }

func (g *gatedCheckpoint) written(cid string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last[cid]
}

// groupStore is a store with one /28 per ENI for n concurrent pods.
func groupStore(t *testing.T, cp Checkpointer, n int) *Store {
	s := New(Options{Checkpoint: cp})
	s.AddENI(ENI{ID: "eni-0", Primary: true})
	for i := range (n + 15) / 16 {
		require.NoError(t, s.AddCIDR("eni-0", netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 0}), 28), t0))
	}
	s.SetPrefixMode(true)
	return s
}

// staged waits until n changes are staged.
func (s *Store) staged(t *testing.T, n uint64) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		gen := s.gen
		s.mu.Unlock()
		if gen >= n {
			return
		}
		require.True(t, time.Now().Before(deadline), "only %d of %d changes staged", gen, n)
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrentAssignsShareCheckpointWrites: 40 ADDs arriving while a
// checkpoint write is under way are written together by the next one, and
// none returns before a written checkpoint holds it (upstream's
// checkpoint-before-reply, one fsync for many).
func TestConcurrentAssignsShareCheckpointWrites(t *testing.T) {
	const n = 40
	cp := &gatedCheckpoint{gate: make(chan struct{})}
	s := groupStore(t, cp, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			cid := fmt.Sprintf("c%d", i)
			_, errs[i] = s.Assign(key(cid), Pod{Name: cid}, t0)
			if errs[i] == nil && !cp.written(cid) {
				errs[i] = fmt.Errorf("%s acknowledged before it was written", cid)
			}
		})
	}
	s.staged(t, n)
	close(cp.gate)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 2, cp.saves, "the write under way, then one for everything staged meanwhile")
	assert.Len(t, cp.last, n)
}

// TestFailedGroupWriteUndoesEveryAssign: when the write holding a group of
// ADDs fails, each of them fails and is undone, as a lone one is.
func TestFailedGroupWriteUndoesEveryAssign(t *testing.T) {
	const n = 10
	cp := &gatedCheckpoint{gate: make(chan struct{}), fail: errors.New("disk full")}
	s := groupStore(t, cp, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = s.Assign(key(fmt.Sprint(i)), Pod{}, t0) })
	}
	s.staged(t, n)
	close(cp.gate)
	wg.Wait()
	for _, err := range errs {
		assert.ErrorContains(t, err, "disk full")
	}
	assert.Zero(t, s.Stats(t0).AssignedIPs, "every failed ADD undone")

	cp.mu.Lock()
	cp.fail = nil
	cp.mu.Unlock()
	a, err := s.Assign(key("after"), Pod{}, t0)
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.0", a.IP.String(), "the undone addresses are free again, without cooldown")
}

// TestReleaseWaitsForItsWrite: a DEL is acknowledged only once a written
// checkpoint no longer holds the pod.
func TestReleaseWaitsForItsWrite(t *testing.T) {
	cp := &gatedCheckpoint{}
	s := groupStore(t, cp, 1)
	_, err := s.Assign(key("a"), Pod{}, t0)
	require.NoError(t, err)
	require.True(t, cp.written("a"))
	cp.gate = make(chan struct{})
	done := make(chan error)
	go func() { _, err := s.Release(key("a"), t0); done <- err }()
	s.staged(t, 2)
	select {
	case err := <-done:
		t.Fatalf("Release returned (%v) before its checkpoint was written", err)
	default:
	}
	close(cp.gate)
	require.NoError(t, <-done)
	assert.False(t, cp.written("a"))
}
