package ipamd

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/enilab/enilab/internal/clock"
)

// staleIMDS is a node's IMDS that can go stale: until a lab time, each
// metadata path it answered before is answered as it was then (a path
// never asked before is answered fresh). fakeec2's IMDSLag is one lag for
// the whole run; this one comes and goes.
type staleIMDS struct {
	next http.Handler
	clk  clock.Clock

	mu    sync.Mutex
	until time.Time
	cache map[string]imdsAnswer // path → last fresh answer
	stale int                   // answers served stale
}

func (s *staleIMDS) served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stale
}

type imdsAnswer struct {
	code   int
	header http.Header
	body   []byte
}

func (s *staleIMDS) staleUntil(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.until = t
}

func (s *staleIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	get := r.Method == http.MethodGet
	s.mu.Lock()
	stale := s.clk.Now().Before(s.until)
	old, cached := s.cache[r.URL.Path]
	if get && stale && cached {
		s.stale++
	}
	s.mu.Unlock()
	if get && stale && cached {
		writeIMDSAnswer(w, old)
		return
	}
	rec := httptest.NewRecorder()
	s.next.ServeHTTP(rec, r)
	a := imdsAnswer{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if get && !stale && a.code == http.StatusOK {
		s.mu.Lock()
		s.cache[r.URL.Path] = a
		s.mu.Unlock()
	}
	writeIMDSAnswer(w, a)
}

func writeIMDSAnswer(w http.ResponseWriter, a imdsAnswer) {
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.WriteHeader(a.code)
	_, _ = w.Write(a.body)
}
