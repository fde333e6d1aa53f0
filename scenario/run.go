package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
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
	// Verbosity chooses how much of the timeline is printed.
	Verbosity Verbosity
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
	s, rep, err := Start(ctx, sc, opts)
	if err != nil {
		return rep, err
	}
	err = s.RunSteps(ctx)
	s.closeWith(&err)
	return s.Report(), err
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

// prefixed is a lab that names its namespaces and links with a prefix, which
// `enilab sweep` takes.
type prefixed interface{ Prefix() string }

// logged is a lab whose nodes keep ipamd's and the plugin's logs in files
// under one directory, as a node keeps them under /var/log/aws-routed-eni.
type logged interface{ LogDir() string }

func labName(lab Lab) string {
	if p, ok := lab.(prefixed); ok {
		return "lab " + p.Prefix()
	}
	return "lab"
}

// teardown closes the lab and sets *err to what the caller must hear: the
// teardown's failure when nothing failed before, ErrInterrupted when the run
// was cancelled.
func (r *runner) teardown(ctx context.Context, err *error) {
	interrupted := ctx.Err() != nil
	if interrupted {
		r.tl.Printf(r.at(), "interrupted: tearing the lab down…")
	}
	closeStart := time.Now()
	cerr := r.lab.Close()
	switch {
	case cerr != nil:
		r.tl.Plain("teardown failed: %v", cerr)
		if p, ok := r.lab.(prefixed); ok {
			r.tl.Plain("remove what is left with: enilab sweep %s", p.Prefix())
		}
		if *err == nil {
			*err = fmt.Errorf("tearing the lab down: %w", cerr)
		}
	case interrupted:
		r.tl.Plain("lab torn down cleanly (real %s)", fmtDur(time.Since(closeStart)))
	}
	if interrupted {
		*err = fmt.Errorf("%w: %s stopped; the lab was torn down", ErrInterrupted, r.sc.Name)
	}
}

// addNodes starts every node in order; the first that fails ends the run.
func (r *runner) addNodes(ctx context.Context) error {
	launch := r.launcher(ctx, r.sc.Nodes)
	var snap Snapshot
	for i, spec := range r.sc.Nodes {
		if err := launch(i); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.tl.Printf(r.at(), "node %s did not start: %v", spec.Name, err)
			r.rep.fillFinal(r.fileOrder(r.lab.Snapshot()))
			return fmt.Errorf("starting node %s: %w", spec.Name, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n := r.upNode(spec.Name, &snap)
		r.tl.Printf(r.at(), "node %s up: %s %s in %s (max pods %d)", spec.Name, n.InstanceID, spec.InstanceType, spec.Subnet, n.MaxPods)
		if n.IPAMD != "" && n.IPAMD != IPAMDRunning {
			r.tl.Printf(r.at(), "  %s", r.ipamdOutcome(spec.Name, ""))
		}
	}
	return nil
}

func subnetList(sc *Scenario) string {
	parts := make([]string, len(sc.VPC.Subnets))
	for i, s := range sc.VPC.Subnets {
		parts[i] = fmt.Sprintf("%s %s", s.ID, s.CIDR)
	}
	return strings.Join(parts, ", ")
}
