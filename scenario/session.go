package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Session is a scenario's lab kept up: Start builds it and starts its
// nodes, RunSteps runs the file's steps, Step runs one more step at a time
// (a live lab's `enilab step`), Close tears it down. Run is Start,
// RunSteps and Close in one.
type Session struct {
	r         *runner
	out       *switchWriter
	realStart time.Time
	// ctx is the lab's life, given to Start.
	ctx context.Context

	mu     sync.Mutex // one step at a time
	steps  *stepContext
	closed bool
}

// Start builds the scenario's lab and starts its nodes, printing the
// timeline's header and start-up lines to opts.Out. ctx bounds the lab's
// life. On error the lab is already torn down and the report (never nil)
// says what there was; the error wraps ErrInterrupted when ctx ended.
func Start(ctx context.Context, sc *Scenario, opts Options) (*Session, *Report, error) {
	if opts.NewLab == nil {
		return nil, &Report{Scenario: sc.Name}, errors.New("scenario: Options.NewLab is nil: nothing can build the lab")
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Poll <= 0 {
		opts.Poll = 50 * time.Millisecond
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 15 * time.Second
	}
	sw := &switchWriter{w: opts.Out}
	r := &runner{sc: sc, opts: opts, tl: NewTimeline(sw, opts.Color), rep: &Report{Version: ReportVersion, Scenario: sc.Name}, created: map[string]int{}}
	r.tl.SetVerbosity(opts.Verbosity)
	s := &Session{r: r, out: sw, realStart: time.Now(), ctx: ctx, steps: newStepContext(sc)}
	if err := s.start(ctx); err != nil {
		return nil, r.rep, err
	}
	return s, r.rep, nil
}

// start builds the lab and its nodes; on failure nothing is left.
func (s *Session) start(ctx context.Context) (err error) {
	r := s.r
	r.tl.Header(r.sc)
	lab, err := r.opts.NewLab(ctx, r.sc, r.opts.Lab)
	if err != nil {
		if ctx.Err() != nil {
			r.tl.Plain("interrupted while the lab was starting; nothing is left behind")
			return fmt.Errorf("%w: %v", ErrInterrupted, ctx.Err())
		}
		r.tl.Plain("the lab did not start: %v", err)
		return fmt.Errorf("starting the lab: %w", err)
	}
	r.lab = lab
	r.clk = lab.Clock()
	r.labStart = r.clk.Now()
	r.tl.Printf(0, "%s up (real %s): vpc %s, subnets %s", labName(lab), fmtDur(time.Since(s.realStart)), r.sc.VPC.CIDR, subnetList(r.sc))
	if l, ok := lab.(logged); ok {
		r.tl.Plain("node logs (until teardown): %s/NODE/ipamd.log and plugin.log", l.LogDir())
	}
	if err := r.setupSecurityGroups(ctx); err != nil {
		err = fmt.Errorf("security groups: %w", err)
		r.teardown(ctx, &err)
		return err
	}
	if err := r.addNodes(ctx); err != nil {
		r.teardown(ctx, &err)
		return err
	}
	return nil
}

// RunSteps runs the file's steps, then prints the summary and the result.
// It returns nil, *Failed (something did not hold), or an error wrapping
// ErrInterrupted when ctx ended (the lab is still up: Close it). Steps
// keep running after a failed one, so one run shows every problem.
func (s *Session) RunSteps(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.r
	r.mon = r.startMonitor(ctx)
	for _, st := range r.sc.Steps {
		if ctx.Err() != nil {
			break
		}
		r.step(ctx, st)
	}
	r.mon.stop()
	final := r.lab.Snapshot()
	r.rep.fillFinal(r.fileOrder(final))
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %s stopped", ErrInterrupted, r.sc.Name)
	}
	r.rep.Passed = len(r.failures) == 0
	r.tl.Summary(final)
	r.tl.Result(r.rep.Passed, len(r.sc.Steps), len(r.failures), time.Since(s.realStart))
	if !r.rep.Passed {
		return &Failed{Scenario: r.sc.Name, Steps: len(r.sc.Steps), Failures: r.failures}
	}
	return nil
}

// Step runs one more step, written as an entry of the file's `steps:`
// (e.g. `{pods: {node: node-1, add: 3}}`), streaming its timeline lines to
// out. A step that does not parse is a Problems error and the lab is not
// touched; a step that ran but did not succeed is *Failed.
func (s *Session) Step(ctx context.Context, text string, out io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("scenario: the lab is torn down")
	}
	st, err := s.steps.parse(text)
	if err != nil {
		return err
	}
	r := s.r
	restore := s.out.tee(out)
	defer restore()
	before := len(r.failures)
	r.mon = r.startMonitor(ctx)
	r.step(ctx, st)
	r.mon.stop()
	r.rep.fillFinal(r.fileOrder(r.lab.Snapshot()))
	if ctx.Err() != nil {
		return fmt.Errorf("%w: step %d", ErrInterrupted, st.Index+1)
	}
	if failed := r.failures[before:]; len(failed) > 0 {
		return &Failed{Scenario: r.sc.Name, Steps: 1, Failures: append([]string(nil), failed...)}
	}
	return nil
}

// Snapshot reads the lab's figures now.
func (s *Session) Snapshot() Snapshot { return s.r.lab.Snapshot() }

// Report is the report so far: the file's steps and every step since.
func (s *Session) Report() *Report { return s.r.rep }

// Lab is the lab the session drives (the CLI asks it for its namespaces).
func (s *Session) Lab() Lab { return s.r.lab }

// Close tears the lab down; only the first call does anything. When the
// lab's context (Start's ctx) has ended, the timeline says it was
// interrupted and the error wraps ErrInterrupted.
func (s *Session) Close() (err error) {
	s.closeWith(&err)
	return err
}

// closeWith tears the lab down once, setting *err as teardown does.
func (s *Session) closeWith(err *error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.r.teardown(s.ctx, err)
}

// switchWriter is the timeline's writer: the session's output, plus, while
// a live step runs, the caller who sent it.
type switchWriter struct {
	mu    sync.Mutex
	w     io.Writer
	extra io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.extra != nil {
		// The caller may have gone; the session's own output still gets
		// every line.
		_, _ = s.extra.Write(p)
	}
	return s.w.Write(p)
}

// tee adds w until the returned func is called.
func (s *switchWriter) tee(w io.Writer) func() {
	s.mu.Lock()
	s.extra = w
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.extra = nil
		s.mu.Unlock()
	}
}
