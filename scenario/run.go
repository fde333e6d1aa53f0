package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/enilab/enilab/internal/clock"
)

// Options configure Run.
type Options struct {
	// Out receives the timeline.
	Out io.Writer
	// Color turns on ANSI colours (only for terminals).
	Color bool
	// NewLab builds the lab (required).
	NewLab NewLabFunc
	// Lab is passed to NewLab.
	Lab LabOptions
	// Poll is the real time between looks at the lab (pool lines and
	// expects); default 50ms.
	Poll time.Duration
	// ProgressEvery is the lab time between progress lines of a long
	// wait; default 15s (and never more often than once a second of real
	// time).
	ProgressEvery time.Duration
}

// ErrInterrupted is returned (wrapped) when the run's context was cancelled,
// e.g. by Ctrl-C; the lab has been torn down by then.
var ErrInterrupted = errors.New("interrupted")

// Failed is the error of a run that completed but where some step did not
// succeed: an expect that never held, a ping with the wrong outcome, a lab
// action that failed.
type Failed struct {
	Scenario string
	Steps    int
	Failures []string
}

func (f *Failed) Error() string {
	noun := "steps"
	if len(f.Failures) == 1 {
		noun = "step"
	}
	return fmt.Sprintf("scenario %s failed: %d %s of %d did not succeed:\n  %s", f.Scenario, len(f.Failures), noun, f.Steps, strings.Join(f.Failures, "\n  "))
}

// Run builds the scenario's lab, runs every step, prints the timeline and
// returns the report with nil, *Failed (the run completed, something did not
// hold), or an error wrapping ErrInterrupted or the lab's start-up failure.
// The report is always non-nil, and the lab is always torn down before Run
// returns. Steps keep running after a failed one, so one run shows every
// problem.
func Run(ctx context.Context, sc *Scenario, opts Options) (*Report, error) {
	if opts.NewLab == nil {
		return &Report{Scenario: sc.Name}, errors.New("scenario: Options.NewLab is nil: nothing can build the lab")
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
	r := &runner{sc: sc, opts: opts, tl: NewTimeline(opts.Out, opts.Color), rep: &Report{Scenario: sc.Name}, created: map[string]int{}}
	return r.run(ctx)
}

type runner struct {
	sc       *Scenario
	opts     Options
	tl       *Timeline
	rep      *Report
	lab      Lab
	clk      clock.Clock
	labStart time.Time
	created  map[string]int
	failures []string
	mon      *monitor
}

func (r *runner) at() time.Duration { return r.clk.Now().Sub(r.labStart) }

func (r *runner) run(ctx context.Context) (rep *Report, err error) {
	realStart := time.Now()
	r.tl.Header(r.sc)
	lab, err := r.opts.NewLab(ctx, r.sc, r.opts.Lab)
	if err != nil {
		if ctx.Err() != nil {
			r.tl.Plain("interrupted while the lab was starting; nothing is left behind")
			return r.rep, fmt.Errorf("%w: %v", ErrInterrupted, ctx.Err())
		}
		r.tl.Plain("the lab did not start: %v", err)
		return r.rep, fmt.Errorf("starting the lab: %w", err)
	}
	r.lab = lab
	r.clk = lab.Clock()
	r.labStart = r.clk.Now()
	name := "lab"
	if p, ok := lab.(interface{ Prefix() string }); ok {
		name = "lab " + p.Prefix()
	}
	r.tl.Printf(0, "%s up (real %s): vpc %s, subnets %s", name, fmtDur(time.Since(realStart)), r.sc.VPC.CIDR, subnetList(r.sc))

	defer func() {
		interrupted := ctx.Err() != nil
		if interrupted {
			r.tl.Printf(r.at(), "interrupted: tearing the lab down…")
		}
		closeStart := time.Now()
		cerr := lab.Close()
		switch {
		case cerr != nil:
			r.tl.Plain("teardown failed: %v", cerr)
			if p, ok := lab.(interface{ Prefix() string }); ok {
				r.tl.Plain("remove what is left with: enilab sweep %s", p.Prefix())
			}
			if err == nil {
				err = fmt.Errorf("tearing the lab down: %w", cerr)
			}
		case interrupted:
			r.tl.Plain("lab torn down cleanly (real %s)", fmtDur(time.Since(closeStart)))
		}
		if interrupted {
			err = fmt.Errorf("%w: %s stopped; the lab was torn down", ErrInterrupted, r.sc.Name)
		}
	}()

	for _, spec := range r.sc.Nodes {
		if err := lab.AddNode(ctx, spec); err != nil {
			if ctx.Err() != nil {
				return r.rep, ctx.Err()
			}
			r.tl.Printf(r.at(), "node %s did not start: %v", spec.Name, err)
			r.rep.fillFinal(lab.Snapshot())
			return r.rep, fmt.Errorf("starting node %s: %w", spec.Name, err)
		}
		snap := lab.Snapshot()
		n, _ := snap.Node(spec.Name)
		r.tl.Printf(r.at(), "node %s up: %s %s in %s (max pods %d)", spec.Name, n.InstanceID, spec.InstanceType, spec.Subnet, n.MaxPods)
	}

	mon := r.startMonitor(ctx)
	r.mon = mon
	for _, st := range r.sc.Steps {
		if ctx.Err() != nil {
			break
		}
		r.step(ctx, st)
	}
	mon.stop()
	final := lab.Snapshot()
	r.rep.fillFinal(final)
	if ctx.Err() != nil {
		return r.rep, ctx.Err()
	}
	r.rep.Passed = len(r.failures) == 0
	r.tl.Summary(final)
	r.tl.Result(r.rep.Passed, len(r.sc.Steps), len(r.failures), time.Since(realStart))
	if !r.rep.Passed {
		return r.rep, &Failed{Scenario: r.sc.Name, Steps: len(r.sc.Steps), Failures: r.failures}
	}
	return r.rep, nil
}

func subnetList(sc *Scenario) string {
	parts := make([]string, len(sc.VPC.Subnets))
	for i, s := range sc.VPC.Subnets {
		parts[i] = fmt.Sprintf("%s %s", s.ID, s.CIDR)
	}
	return strings.Join(parts, ", ")
}

// step runs one step and records its outcome.
func (r *runner) step(ctx context.Context, st Step) {
	total := len(r.sc.Steps)
	start := r.at()
	r.tl.StepStart(start, st, total)
	msg, err := r.do(ctx, st)
	end := r.at()
	if ctx.Err() != nil {
		r.rep.Steps = append(r.rep.Steps, StepReport{Index: st.Index, Kind: st.Kind, OK: false, Message: "interrupted", LabMs: end.Milliseconds()})
		return
	}
	r.mon.look()
	ok := err == nil
	if !ok {
		msg = err.Error()
		var ef *ExpectFailure
		if errors.As(err, &ef) {
			r.failures = append(r.failures, msg)
		} else {
			r.failures = append(r.failures, fmt.Sprintf("steps[%d] %s (line %d): %s", st.Index, st.Kind, st.Line, msg))
		}
	}
	r.tl.StepEnd(end, st, total, ok, end-start, msg)
	r.rep.Steps = append(r.rep.Steps, StepReport{Index: st.Index, Kind: st.Kind, OK: ok, Message: msg, LabMs: end.Milliseconds()})
}

func (r *runner) do(ctx context.Context, st Step) (string, error) {
	switch st.Kind {
	case KindPods:
		p := st.Pods
		if p.Add > 0 {
			if err := r.lab.AddPods(ctx, p.Node, p.Add); err != nil {
				return "", fmt.Errorf("adding %d pods to %s: %w", p.Add, p.Node, err)
			}
			first := r.created[p.Node] + 1
			r.created[p.Node] += p.Add
			if p.Add == 1 {
				return fmt.Sprintf("created %s/pod-%d", p.Node, first), nil
			}
			return fmt.Sprintf("created %s/pod-%d … pod-%d", p.Node, first, r.created[p.Node]), nil
		}
		if err := r.lab.DeletePods(ctx, p.Node, p.Delete); err != nil {
			return "", fmt.Errorf("deleting %d pods from %s: %w", p.Delete, p.Node, err)
		}
		return fmt.Sprintf("deleted the %d newest pods of %s", p.Delete, p.Node), nil
	case KindExpect:
		return r.expect(ctx, st)
	case KindFault:
		if r.opts.Lab.Replay != nil {
			return "not added: --replay injects the faults recorded in the trace instead", nil
		}
		name, err := r.lab.AddFault(*st.Fault)
		if err != nil {
			return "", fmt.Errorf("adding fault: %w", err)
		}
		return fmt.Sprintf("fault %q active", name), nil
	case KindRestart:
		if err := r.lab.RestartIPAMD(ctx, st.Restart.Node); err != nil {
			return "", fmt.Errorf("restarting ipamd on %s: %w", st.Restart.Node, err)
		}
		return "ipamd restarted on " + st.Restart.Node, nil
	case KindPing:
		return r.ping(ctx, st.Ping)
	case KindSleep:
		return r.sleep(ctx, st.Sleep)
	case KindBreakRule:
		if err := r.lab.BreakRule(ctx, st.Rule.Pod); err != nil {
			return "", fmt.Errorf("deleting the from-IP rule of %s: %w", st.Rule.Pod, err)
		}
		return "deleted the priority-1536 rule of " + st.Rule.Pod + ": its replies now leave by the primary ENI", nil
	case KindFixRule:
		if err := r.lab.FixRule(ctx, st.Rule.Pod); err != nil {
			return "", fmt.Errorf("restoring the from-IP rule of %s: %w", st.Rule.Pod, err)
		}
		return "restored the priority-1536 rule of " + st.Rule.Pod, nil
	}
	return "", fmt.Errorf("unknown step kind %q", st.Kind)
}

// expect polls the lab until the expectation holds or its lab-time limit
// passes, printing progress on long waits.
func (r *runner) expect(ctx context.Context, st Step) (string, error) {
	e := st.Expect
	start := r.at()
	deadline := start + e.Within
	lastProgress, lastProgressReal := start, time.Now()
	tick := time.NewTicker(r.opts.Poll)
	defer tick.Stop()
	for {
		miss := e.Check(r.lab.Snapshot())
		now := r.at()
		if len(miss) == 0 {
			if now-start < time.Millisecond {
				return "held at once", nil
			}
			return fmt.Sprintf("held after %s", fmtDur(now-start)), nil
		}
		if now >= deadline {
			return "", &ExpectFailure{Step: st, Mismatches: miss}
		}
		if now-lastProgress >= r.opts.ProgressEvery && time.Since(lastProgressReal) >= time.Second {
			r.tl.Progress(now, "waiting %s of %s: %s", fmtDur(now-start), fmtDur(e.Within), mismatchList(miss))
			lastProgress, lastProgressReal = now, time.Now()
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-tick.C:
		}
	}
}

// sleep waits in chunks so that a long sleep shows it is alive.
func (r *runner) sleep(ctx context.Context, d time.Duration) (string, error) {
	start := r.at()
	lastReal := time.Now()
	for {
		left := d - (r.at() - start)
		if left <= 0 {
			return "slept " + fmtDur(d), nil
		}
		if err := clock.Sleep(ctx, r.clk, min(left, r.opts.ProgressEvery)); err != nil {
			return "", err
		}
		if done := r.at() - start; done < d && time.Since(lastReal) >= time.Second {
			r.tl.Progress(r.at(), "slept %s of %s", fmtDur(done), fmtDur(d))
			lastReal = time.Now()
		}
	}
}

func mismatchList(ms []Mismatch) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return strings.Join(parts, "; ")
}

func (r *runner) ping(ctx context.Context, p *PingStep) (string, error) {
	start := r.at()
	want := "replies"
	if !p.ExpectOK {
		want = "no reply"
	}
	for attempt := 1; ; attempt++ {
		err := r.lab.Ping(ctx, p.From, p.To)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if (err == nil) == p.ExpectOK {
			if err == nil {
				return "replies came back", nil
			}
			return fmt.Sprintf("no reply, as expected (%v)", err), nil
		}
		if r.at()-start >= p.Within {
			got := "replies came back"
			if err != nil {
				got = fmt.Sprintf("no reply: %v", err)
			}
			return "", fmt.Errorf("ping %s → %s: want %s, got %s (%d attempts)", p.From, p.To, want, got, attempt)
		}
		if err := clock.Sleep(ctx, r.clk, time.Second); err != nil {
			return "", err
		}
	}
}

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
}

func (m *monitor) look() {
	m.mu.Lock()
	defer m.mu.Unlock()
	snap := m.r.lab.Snapshot()
	at := m.r.at()
	for _, n := range snap.Nodes {
		prev, seen := m.last[n.Name]
		if !seen {
			m.r.tl.Pool(at, nil, n)
		} else if poolChanged(prev, n) {
			m.r.tl.Pool(at, &prev, n)
		}
		m.last[n.Name] = n
	}
}

func (r *runner) startMonitor(ctx context.Context) *monitor {
	ctx, cancel := context.WithCancel(ctx)
	m := &monitor{r: r, cancel: cancel, done: make(chan struct{}), last: map[string]NodeState{}}
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

// stop ends the monitor after one last look; idempotent.
func (m *monitor) stop() {
	m.once.Do(func() {
		m.cancel()
		<-m.done
		m.look()
	})
}
