package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/enilab/enilab/scenario"
)

// The supervisor's API, HTTP on the run directory's unix socket:
//
//	GET  /status  the lab now (liveStatus as JSON)
//	POST /step    body: one step as a `steps:` entry; the response streams
//	              its timeline, the trailer Enilab-Result says ok, failed or
//	              interrupted; a step that does not parse is a 400 and
//	              changes nothing
//	POST /down    tear the lab down; the supervisor then exits
const resultTrailer = "Enilab-Result"

// liveStatus is GET /status.
type liveStatus struct {
	Name     string `json:"name"`
	Scenario string `json:"scenario"`
	PID      int    `json:"pid"`
	// Phase is starting, steps (the file's steps run), up or down.
	Phase string `json:"phase"`
	// Steps is how the file's steps went (nil while they run).
	Steps    *stepsResult       `json:"steps,omitempty"`
	Snapshot *scenario.Snapshot `json:"snapshot,omitempty"`
}

func (s *supervisor) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", s.serveStatus)
	mux.HandleFunc("POST /step", s.serveStep)
	mux.HandleFunc("POST /down", func(w http.ResponseWriter, _ *http.Request) {
		s.down()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, "tearing lab %s down\n", s.name)
	})
	return mux
}

func (s *supervisor) status() liveStatus {
	s.mu.Lock()
	sess, res, state := s.sess, s.result, s.state
	s.mu.Unlock()
	st := liveStatus{Name: s.name, Scenario: state.Scenario, PID: os.Getpid(), Phase: "starting", Steps: res}
	if state.PID != 0 {
		st.PID = state.PID
	}
	select {
	case <-s.downReq:
		st.Phase = "down"
		return st
	default:
	}
	if s.ctx != nil && s.ctx.Err() != nil {
		st.Phase = "down" // SIGTERM or SIGINT: tearing down
		return st
	}
	if sess == nil {
		return st
	}
	snap := sess.Snapshot()
	st.Snapshot = &snap
	st.Phase = "steps"
	if res != nil {
		st.Phase = "up"
	}
	return st
}

func (s *supervisor) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.status())
}

func (s *supervisor) serveStep(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	sess, ready := s.sess, s.result != nil
	s.mu.Unlock()
	if !ready {
		http.Error(w, "the lab is still running its file's steps; send the step once `enilab up` has returned", http.StatusConflict)
		return
	}
	w.Header().Set("Trailer", resultTrailer)
	sw := &streamWriter{w: w}
	// A step ends when its sender goes away, and on down.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := s.onDown(cancel)
	defer stop()
	if s.ctx != nil {
		defer context.AfterFunc(s.ctx, cancel)()
	}
	err = sess.Step(ctx, string(body), sw)
	var probs scenario.Problems
	if errors.As(err, &probs) && !sw.started {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.saveState(io.Discard)
	var failed *scenario.Failed
	result := "ok"
	switch {
	case errors.As(err, &failed):
		result = "failed"
	case errors.Is(err, scenario.ErrInterrupted):
		result = "interrupted"
	case err != nil:
		result = "error: " + strings.ReplaceAll(err.Error(), "\n", " ")
	}
	sw.start()
	w.Header().Set(resultTrailer, result)
}

// streamWriter sends each timeline line as it is written.
type streamWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *streamWriter) start() {
	if !s.started {
		s.started = true
		s.w.WriteHeader(http.StatusOK)
	}
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.start()
	n, err := s.w.Write(p)
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	return n, err
}

// apiClient talks to one supervisor over its socket.
type apiClient struct{ http *http.Client }

func newAPIClient(socket string) apiClient {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}
	return apiClient{http: &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}}
}

func (c apiClient) do(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://lab"+path, body)
	if err != nil {
		return nil, err
	}
	return c.http.Do(req)
}

// status reads GET /status.
func (c apiClient) status(ctx context.Context) (liveStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var st liveStatus
	resp, err := c.do(ctx, http.MethodGet, "/status", nil)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}
