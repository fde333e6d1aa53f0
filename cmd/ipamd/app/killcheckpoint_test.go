package app

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/enilab/enilab/ipamd/datastore"
)

// TestSIGKILLDuringCheckpointWrites kills ipamd at random moments while it
// serves a stream of ADDs and DELs, each of which rewrites the checkpoint
// before it is answered (upstream's JSONFile.Checkpoint: a temporary file,
// then a rename). After every kill the checkpoint loads (ReadBackingStore:
// never a torn or partial file), holds every ADD answered before the kill
// at its address and nothing DEL took away, and has no address twice; the
// next ipamd starts on it and answers each pod's repeated ADD with the
// same address. Addresses come from secondary IPs, then from /28 prefixes.
func TestSIGKILLDuringCheckpointWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ipamd processes")
	}
	t.Run("secondary-IPs", func(t *testing.T) { killDuringWrites(t) })
	t.Run("prefixes", func(t *testing.T) { killDuringWrites(t, "ENABLE_PREFIX_DELEGATION=true") })
}

func killDuringWrites(t *testing.T, env ...string) {
	const kills = 12
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	lab := newEC2Lab(t, "m5.large", "none")
	dir := t.TempDir()
	cpPath := filepath.Join(dir, "ipam.json")
	s := &podStream{held: map[string]string{}, rnd: rand.New(rand.NewPCG(seed, 2)), sent: make(chan struct{}, 1)}
	phases, leftover := map[string]int{}, 0
	for k := 0; k < kills; k++ {
		p := startIPAMD(t, dir, lab, env...)
		cl := dialIPAMD(t, p.socket)
		s.resume(t, cl)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); s.run(ctx, cl) }()
		s.waitAnswers(t, 3)
		// A request takes 1–3 ms, a good part of it the checkpoint write
		// (fsync): a kill at a random offset from a request's start lands
		// anywhere in it. The seed picks offsets, not the scheduling, so a
		// rerun with it is not the same run.
		s.waitSent(t)
		s.waitSent(t)
		time.Sleep(time.Duration(rnd.Int64N(int64(3 * time.Millisecond))))
		p.kill(t)
		cancel()
		wg.Wait()
		cp, found, err := datastore.File{Path: cpPath}.Load()
		require.NoError(t, err, "kill %d: the checkpoint after a SIGKILL", k)
		require.True(t, found, "kill %d: no checkpoint", k)
		phase := s.check(t, k, cp)
		if n := tempFiles(t, dir); n > leftover {
			// Upstream's write leaves its temporary file behind too.
			phase, leftover = "inside the write (temporary file left)", n
		}
		phases[phase]++
	}
	t.Logf("%d kills %v; %d ADDs and %d DELs answered", kills, phases, s.adds, s.dels)
	last := startIPAMD(t, dir, lab, env...)
	s.resume(t, dialIPAMD(t, last.socket))
	last.stop(t)
}

// podStream is a plugin sending one request at a time: ADD of a new pod
// or DEL of a pod holding an address. held is what ipamd answered and no
// DEL has been sent for; inFlight is the request without an answer yet.
type podStream struct {
	rnd        *rand.Rand
	mu         sync.Mutex
	held       map[string]string // container id → address
	next       int
	inFlight   string // container id
	inFlightOp string // "add" | "del"
	answers    int    // answered ADDs with an address and DELs, since resume
	sent       chan struct{}
	adds, dels int
}

func (s *podStream) run(ctx context.Context, cl pluginClient) {
	for ctx.Err() == nil {
		s.mu.Lock()
		cid, op := "", "add"
		if len(s.held) >= 12 || (len(s.held) > 0 && s.rnd.IntN(3) == 0) {
			op = "del"
			for c := range s.held {
				cid = c
				break
			}
		} else {
			s.next++
			cid = containerID(s.next)
		}
		s.inFlight, s.inFlightOp = cid, op
		s.mu.Unlock()
		select {
		case s.sent <- struct{}{}:
		default:
		}
		var ip string
		var err error
		if op == "add" {
			ip, err = cl.add(ctx, cid, "pod-"+cid)
		} else {
			err = cl.del(ctx, cid, "pod-"+cid)
		}
		if err != nil {
			return // ipamd killed (or failing): this one stays in flight
		}
		s.mu.Lock()
		switch {
		case op == "del":
			delete(s.held, cid) // answered, released
			s.dels++
			s.answers++
		case ip != "":
			s.held[cid] = ip
			s.adds++
			s.answers++
		}
		s.inFlight = ""
		s.mu.Unlock()
		if ip == "" && op == "add" {
			time.Sleep(5 * time.Millisecond) // pool empty: as the kubelet, try later
		}
	}
}

// waitSent waits until the stream sends its next request (or the one
// sent since the last wait).
func (s *podStream) waitSent(t *testing.T) {
	t.Helper()
	select {
	case <-s.sent:
	case <-time.After(30 * time.Second):
		t.Fatal("the request stream stopped")
	}
}

func (s *podStream) waitAnswers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		got := s.answers
		s.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("ipamd answered no requests")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// check compares a checkpoint left by a SIGKILL with what the plugin was
// told: every held pod at its address, nothing else but the request in
// flight, no address twice.
func (s *podStream) check(t *testing.T, kill int, cp datastore.Checkpoint) (phase string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	inCP := map[string]string{}
	owner := map[string]string{}
	for _, e := range cp.Allocations {
		require.NotContains(t, owner, e.IPv4, "kill %d: %s held by %s and %s", kill, e.IPv4, owner[e.IPv4], e.ContainerID)
		owner[e.IPv4] = e.ContainerID
		inCP[e.ContainerID] = e.IPv4
	}
	for cid, ip := range s.held {
		if cid == s.inFlight && s.inFlightOp == "del" {
			continue // DEL sent, maybe done
		}
		require.Equal(t, ip, inCP[cid], "kill %d: %s's answered ADD in the checkpoint", kill, cid)
	}
	for cid := range inCP {
		_, ok := s.held[cid]
		require.True(t, ok || cid == s.inFlight, "kill %d: %s is in the checkpoint but was never answered, or was DELeted", kill, cid)
	}
	_, written := inCP[s.inFlight]
	switch {
	case s.inFlight == "":
		return "between requests"
	case written == (s.inFlightOp == "add"):
		return "after the rename"
	default:
		return "before the rename"
	}
}

// resume is the runtime after ipamd comes back: the request in flight at
// the kill is settled (an ADD's sandbox is torn down with a DEL, a DEL is
// sent again), then every held pod's repeated ADD must return its address.
func (s *podStream) resume(t *testing.T, cl pluginClient) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// ipamd is up once it answers anything (here: a DEL of no pod).
	require.ErrorContains(t, retryUnavailable(ctx, func() error { return cl.del(ctx, "no-such-sandbox", "none") }),
		"datastore: unknown pod", "ipamd did not come up")
	if s.inFlight != "" {
		err := retryUnavailable(ctx, func() error { return cl.del(ctx, s.inFlight, "pod-"+s.inFlight) })
		if err != nil {
			require.ErrorContains(t, err, "datastore: unknown pod", "DEL of %s after the kill", s.inFlight)
		}
		delete(s.held, s.inFlight)
		s.inFlight = ""
	}
	for cid, ip := range s.held {
		require.Equal(t, ip, cl.addOK(t, cid, "pod-"+cid), "repeated ADD of %s after a restart", cid)
	}
	s.answers = 0
}

// retryUnavailable calls fn until ipamd's socket answers (it is starting).
func retryUnavailable(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil || !unavailable(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tempFiles counts the checkpoint's temporary files in dir.
func tempFiles(t *testing.T, dir string) int {
	m, err := filepath.Glob(filepath.Join(dir, ".ipam.json.tmp*"))
	require.NoError(t, err)
	return len(m)
}

func unavailable(err error) bool { return status.Code(err) == codes.Unavailable }
