package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/scenario"
)

type runFlags struct {
	report, trace, replay, prefix, log, color string
	csv, html                                 string
	quiet, verbose                            bool
	// keep (run) makes run an up; name (up) names the live lab.
	keep      bool
	name      string
	cniPlugin string
	timeScale float64 // 0: the file's
}

// parseInterleaved accepts flags before and after the positional FILE.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func (c CLI) run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	f, file, err := parseRunFlags(args)
	if err != nil {
		return err
	}
	if f.keep {
		return c.up(ctx, withoutKeep(args), stdout, stderr)
	}
	color, err := f.useColor(stdout)
	if err != nil {
		return err
	}
	verbosity, err := f.verbosity()
	if err != nil {
		return err
	}
	sc, lerr := scenario.Load(file)
	if lerr != nil {
		var probs scenario.Problems
		if errors.As(lerr, &probs) {
			printProblems(stderr, file, probs)
			return &exitError{code: ExitUsage, err: lerr, quiet: true}
		}
		return &exitError{code: ExitUsage, err: lerr}
	}
	if err := f.override(sc); err != nil {
		return usageErr("run: %v", err)
	}
	printWarnings(stderr, sc.Warnings)
	if len(sc.Matrix) > 0 {
		return usageErr("run: %s has a matrix: (%d settings); run its variants with `enilab compare %s`", file, len(sc.Matrix), file)
	}
	if err := f.checkSeriesPaths(); err != nil {
		return err
	}
	if c.NeedRoot && !nsutil.IsRoot() {
		return &exitError{code: ExitLab, err: errors.New("run needs root: a lab is made of network namespaces (try sudo, or `enilab validate` to only check the file)")}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := scenario.Options{Out: brokenPipe{w: stdout, cancel: cancel}, Color: color, NewLab: c.NewLab, Lab: scenario.LabOptions{Prefix: f.prefix}, Verbosity: verbosity}
	closers, err := f.openFiles(&opts.Lab)
	defer func() {
		for _, cl := range closers {
			if cerr := cl.Close(); cerr != nil && err == nil {
				err = &exitError{code: ExitLab, err: cerr}
			}
		}
	}()
	if err != nil {
		return err
	}

	rep, rerr := scenario.Run(ctx, sc, opts)
	if f.report != "" && rep != nil {
		if werr := writeReport(f.report, rep); werr != nil {
			fmt.Fprintf(stderr, "enilab: --report: %v\n", werr)
			if rerr == nil {
				return &exitError{code: ExitLab, err: werr, quiet: true}
			}
		} else {
			fmt.Fprintf(stdout, "report written to %s\n", f.report)
		}
	}
	if werr := f.writeSeries(rep, sc.Description, stdout, stderr); werr != nil && rerr == nil {
		return werr
	}
	return runExit(rerr)
}

// parseRunFlags reads run's flags and its one scenario file.
func parseRunFlags(args []string) (f runFlags, file string, err error) {
	pos, perr := parseInterleaved(runFlagSet(&f), args)
	if perr != nil {
		return f, "", usageErr("run: %v", perr)
	}
	if len(pos) != 1 {
		return f, "", usageErr("run: name exactly one scenario file")
	}
	return f, pos[0], nil
}

// runFlagSet is run's flags, read into f.
func runFlagSet(f *runFlags) *flag.FlagSet {
	fs := labFlagSet("enilab run", f)
	fs.BoolVar(&f.keep, "keep", false, "keep the lab up after the steps, as `enilab up` (--prefix names it)")
	return fs
}

// labFlagSet is the flags of every command that builds a lab (run, up).
func labFlagSet(name string, f *runFlags) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.report, "report", "", "write the report JSON here")
	fs.StringVar(&f.trace, "trace", "", "write the EC2 request trace (JSON Lines) here")
	fs.StringVar(&f.replay, "replay", "", "re-inject the faults of this trace")
	fs.StringVar(&f.prefix, "prefix", "", "name prefix of the lab's namespaces and links (default random)")
	fs.StringVar(&f.log, "log", "", "write the lab's own logs (ipamd, nodes) to this file")
	fs.StringVar(&f.color, "color", "auto", "colour the timeline: auto, always or never")
	fs.StringVar(&f.csv, "csv", "", "write the time series as CSV files (nodes.csv, ec2.csv, pods.csv) into this directory")
	fs.StringVar(&f.html, "html", "", "write a self-contained HTML report with plots here")
	fs.BoolVar(&f.quiet, "quiet", false, "print only each step's outcome, ipamd's warnings, the summary and the verdict")
	fs.BoolVar(&f.verbose, "verbose", false, "also print ipamd's pool decisions (too low, too high)")
	fs.StringVar(&f.cniPlugin, "cni-plugin", "", "run every node's pods with this aws-cni: enilab, upstream (make upstream) or a path")
	fs.Float64Var(&f.timeScale, "time-scale", 0, "run with this timeScale instead of the file's (lab time d takes d×scale real time; raise it on a slow or emulated machine)")
	return fs
}

// override applies --cni-plugin and --time-scale to the loaded file.
func (f runFlags) override(sc *scenario.Scenario) error {
	if f.cniPlugin != "" {
		if err := sc.UseCNIPlugin(f.cniPlugin); err != nil {
			return fmt.Errorf("--cni-plugin: %w", err)
		}
	}
	if f.timeScale != 0 {
		if err := sc.UseTimeScale(f.timeScale); err != nil {
			return fmt.Errorf("--time-scale: %w", err)
		}
	}
	return nil
}

// useColor decides --color: auto colours only a terminal, and only when
// NO_COLOR is unset and TERM is not dumb.
func (f runFlags) useColor(stdout io.Writer) (bool, error) {
	switch f.color {
	case "auto":
		return isTerminal(stdout) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb", nil
	case "always":
		return true, nil
	case "never":
		return false, nil
	}
	return false, usageErr("run: --color wants auto, always or never, got %q", f.color)
}

// verbosity reads --quiet and --verbose, which exclude each other.
func (f runFlags) verbosity() (scenario.Verbosity, error) {
	switch {
	case f.quiet && f.verbose:
		return 0, usageErr("run: --quiet and --verbose exclude each other; choose one")
	case f.quiet:
		return scenario.Quiet, nil
	case f.verbose:
		return scenario.Verbose, nil
	}
	return scenario.Normal, nil
}

// openFiles opens --replay for reading and --trace and --log for writing,
// before the lab is built, so a bad path costs nothing. The caller closes
// what is returned, also on error.
func (f runFlags) openFiles(lab *scenario.LabOptions) ([]io.Closer, error) {
	if f.replay != "" && f.trace != "" && sameFile(f.replay, f.trace) {
		return nil, usageErr("run: --trace would overwrite the --replay trace %s; write the new trace elsewhere", f.replay)
	}
	var closers []io.Closer
	for _, ff := range []struct {
		flag, path string
		open       func(string) (*os.File, error)
		use        func(*os.File)
	}{
		{"replay", f.replay, os.Open, func(fl *os.File) { lab.Replay = fl }},
		{"trace", f.trace, os.Create, func(fl *os.File) { lab.Trace = fl }},
		{"log", f.log, os.Create, func(fl *os.File) { lab.Log = fl }},
	} {
		if ff.path == "" {
			continue
		}
		fl, oerr := ff.open(ff.path)
		if oerr != nil {
			return closers, &exitError{code: ExitUsage, err: fmt.Errorf("--%s: %w", ff.flag, oerr)}
		}
		closers = append(closers, fl)
		ff.use(fl)
	}
	return closers, nil
}

// runExit maps scenario.Run's error to the command's exit status.
func runExit(rerr error) error {
	var failed *scenario.Failed
	switch {
	case rerr == nil:
		return nil
	case errors.Is(rerr, scenario.ErrInterrupted):
		return &exitError{code: ExitInterrupted, err: rerr}
	case errors.As(rerr, &failed):
		return &exitError{code: ExitFailed, err: rerr}
	default:
		return &exitError{code: ExitLab, err: rerr}
	}
}

func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

func writeReport(path string, rep *scenario.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
