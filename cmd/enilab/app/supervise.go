package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/enilab/enilab/scenario"
	"github.com/enilab/enilab/scenario/nodelab"
)

// timelineFD is the pipe `up` reads the timeline of the file's steps from
// (the supervisor's first extra file).
const timelineFD = 3

// supervisor owns a live lab: it builds it, runs the file's steps, serves
// the API on the run directory's socket and tears everything down on
// `down`, SIGTERM or SIGINT.
type supervisor struct {
	name  string
	file  string
	state labState
	// ctx is the lab's life: SIGTERM or SIGINT ends it.
	ctx context.Context

	mu      sync.Mutex
	sess    *scenario.Session
	result  *stepsResult // nil while the file's steps run
	downReq chan struct{}
	once    sync.Once
}

// stepsResult is how the file's steps went: the exit status `up` gives.
type stepsResult struct {
	Code    int    `json:"code"`
	Message string `json:"message,omitempty"`
}

// supervise is the hidden command `enilab __supervise FILE [up flags]
// --name NAME` that `up` starts detached (own session, stdio on the run
// directory's log). Its exit status is 0 after a clean teardown.
func (c CLI) supervise(ctx context.Context, args []string, stdout io.Writer) (err error) {
	f, file, err := parseUpFlags(superviseCmd, args)
	if err != nil {
		return err
	}
	sc, err := scenario.Load(file)
	if err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	if err := f.override(sc); err != nil {
		return usageErr("%s: %v", superviseCmd, err)
	}
	dir := runDir(f.name)
	s := &supervisor{name: f.name, file: file, ctx: ctx, downReq: make(chan struct{})}
	// Whatever happens, the run directory goes with the supervisor.
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = &exitError{code: ExitLab, err: rerr}
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return &exitError{code: ExitLab, err: fmt.Errorf("pid file: %w", err)}
	}
	ln, err := net.Listen("unix", filepath.Join(dir, socketFile))
	if err != nil {
		return &exitError{code: ExitLab, err: fmt.Errorf("socket: %w", err)}
	}
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	defer func() {
		_ = srv.Close()
		<-served
	}()
	tl := os.NewFile(timelineFD, "timeline")
	var once sync.Once
	return s.run(ctx, c, sc, f, io.MultiWriter(stdout, dropErrors{tl}), func() { once.Do(func() { _ = tl.Close() }) })
}

// run builds the lab, runs the file's steps, and keeps the lab up until
// `down` or ctx ends; release is called once the file's steps are done
// (the `up` caller stops reading then).
func (s *supervisor) run(ctx context.Context, c CLI, sc *scenario.Scenario, f runFlags, out io.Writer, release func()) error {
	defer release()
	color, _ := f.useColor(nil)
	verbosity, _ := f.verbosity() // up checked it
	opts := scenario.Options{Out: out, Color: color, NewLab: c.NewLab, Lab: scenario.LabOptions{Prefix: f.name}, Verbosity: verbosity}
	closers, err := f.openFiles(&opts.Lab)
	defer func() {
		for _, cl := range closers {
			_ = cl.Close()
		}
	}()
	if err != nil {
		fmt.Fprintf(out, "enilab: %v\n", err)
		return err
	}
	sess, _, err := scenario.Start(ctx, sc, opts)
	if err != nil {
		return runExit(err)
	}
	state := labState{Name: s.name, Scenario: sc.Name, File: s.file, PID: os.Getpid(), Started: time.Now().UTC(),
		Socket: filepath.Join(runDir(s.name), socketFile), Log: filepath.Join(runDir(s.name), logFile)}
	if l, ok := sess.Lab().(interface{ LogDir() string }); ok {
		state.LabDir = l.LogDir()
	}
	s.mu.Lock()
	s.sess, s.state = sess, state
	s.mu.Unlock()
	s.saveState(out)

	// `down` during the file's steps ends them (and then the lab).
	stepsCtx, cancel := context.WithCancel(ctx)
	stop := s.onDown(cancel)
	rerr := sess.RunSteps(stepsCtx)
	stop()
	cancel()
	s.saveState(out)
	s.finishSteps(rerr, sess, sc, f, out)
	release()

	select {
	case <-ctx.Done():
	case <-s.downReq:
	}
	fmt.Fprintf(out, "tearing lab %s down…\n", s.name)
	if err := sess.Close(); err != nil && !errors.Is(err, scenario.ErrInterrupted) {
		fmt.Fprintf(out, "enilab: %v\n", err)
		return &exitError{code: ExitLab, err: err, quiet: true}
	}
	fmt.Fprintf(out, "lab %s torn down\n", s.name)
	return nil
}

// finishSteps records the file's steps' outcome and writes --report,
// --csv and --html.
func (s *supervisor) finishSteps(rerr error, sess *scenario.Session, sc *scenario.Scenario, f runFlags, out io.Writer) {
	res := &stepsResult{}
	if rerr != nil {
		res.Code, res.Message = Exit(runExit(rerr), io.Discard), rerr.Error()
	}
	if f.report != "" {
		if err := writeReport(f.report, sess.Report()); err != nil {
			fmt.Fprintf(out, "enilab: --report: %v\n", err)
			if res.Code == ExitOK {
				res.Code = ExitLab
			}
		} else {
			fmt.Fprintf(out, "report written to %s\n", f.report)
		}
	}
	if err := f.writeSeries(sess.Report(), sc.Description, out, out); err != nil && res.Code == ExitOK {
		res.Code = ExitLab
	}
	s.mu.Lock()
	s.result = res
	s.mu.Unlock()
}

// inside is what the lab can say about its namespaces (scenario/nodelab's
// lab can; a fake cannot).
type inside interface{ Inside() []nodelab.NodeInside }

// saveState writes state.json with the nodes and pods as they are now.
func (s *supervisor) saveState(out io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in, ok := s.sess.Lab().(inside); ok {
		s.state.Nodes = in.Inside()
	}
	if err := writeState(&s.state); err != nil {
		fmt.Fprintf(out, "enilab: %v\n", err)
	}
}

// down asks the supervisor to tear the lab down; idempotent.
func (s *supervisor) down() { s.once.Do(func() { close(s.downReq) }) }

// onDown calls fn when down is asked for, until the returned stop.
func (s *supervisor) onDown(fn func()) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-s.downReq:
			fn()
		case <-done:
		}
	}()
	return func() { close(done) }
}

// dropErrors writes to w, ignoring failures: the `up` caller may be gone,
// and the lab must not care.
type dropErrors struct{ w io.Writer }

func (d dropErrors) Write(p []byte) (int, error) {
	_, _ = d.w.Write(p)
	return len(p), nil
}
