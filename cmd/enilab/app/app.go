// Package app is the enilab command line: `run`, `validate` and `version`.
// main only wires signals and the exit status; everything a user sees comes
// from here, so it can be tested as a function.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
	"github.com/enilab/enilab/scenario/nodelab"
)

// Version is set at build time with -ldflags "-X …/app.Version=v1.2.3";
// otherwise the module's build information is used.
var Version = ""

// Exit statuses.
const (
	ExitOK          = 0
	ExitFailed      = 1   // the scenario ran and something did not hold
	ExitUsage       = 2   // bad command line or invalid scenario file
	ExitLab         = 3   // the lab could not be built or torn down
	ExitInterrupted = 130 // Ctrl-C / SIGTERM
)

// exitError carries an exit status; quiet ones have already been explained
// on the output.
type exitError struct {
	code  int
	err   error
	quiet bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format+"\n\n"+usageText, args...)}
}

// Exit prints err (unless already shown) to stderr and returns the process
// exit status for it.
func Exit(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	code := ExitFailed
	quiet := false
	var ee *exitError
	if errors.As(err, &ee) {
		code, quiet = ee.code, ee.quiet
	}
	if !quiet {
		fmt.Fprintf(stderr, "enilab: %v\n", err)
	}
	return code
}

const usageText = `usage:
  enilab run FILE [--report out.json] [--trace out.jsonl] [--replay in.jsonl]
                  [--prefix NAME] [--log FILE] [--color auto|always|never]
  enilab validate FILE...
  enilab sweep PREFIX
  enilab version

run       builds the scenario's lab (needs root), runs its steps, prints a
          timeline and exits 0 only if every expect held
validate  checks scenario files without running them, listing every problem
sweep     removes what a killed run left behind (namespaces, temp dirs) for
          the lab prefix it printed or was given with --prefix
version   prints the version

exit status: 0 passed, 1 an expect or step failed, 2 usage or invalid file,
3 the lab could not be built, 130 interrupted`

// Run runs the enilab command line with args (without the program name).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return CLI{NewLab: nodelab.New, NeedRoot: true}.Run(ctx, args, stdout, stderr)
}

// CLI is the command line with its lab builder injectable, so tests can run
// it against a fake lab.
type CLI struct {
	NewLab scenario.NewLabFunc
	// NeedRoot refuses `run` early, with advice, when not root; a fake lab
	// does not need it.
	NeedRoot bool
}

// Run runs one command.
func (c CLI) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stdout, usageText)
		return &exitError{code: ExitUsage, err: errors.New("no command"), quiet: true}
	}
	switch args[0] {
	case "run":
		return c.run(ctx, args[1:], stdout, stderr)
	case "validate":
		return validate(args[1:], stdout)
	case "sweep":
		return sweep(args[1:], stdout)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprintln(stdout, usageText)
		return nil
	}
	return usageErr("unknown command %q", args[0])
}

func versionString() string {
	v := Version
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	out := "enilab " + v
	if rev != "" {
		out += " (" + rev + ")"
	}
	return out + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

func validate(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageErr("validate: name at least one scenario file")
	}
	bad := 0
	for _, file := range args {
		if strings.HasPrefix(file, "-") {
			return usageErr("validate: unknown flag %s", file)
		}
		sc, err := scenario.Load(file)
		var probs scenario.Problems
		switch {
		case errors.As(err, &probs):
			bad++
			fmt.Fprintf(stdout, "%s: %d problem%s\n", file, len(probs), plural(len(probs)))
			for _, p := range probs {
				fmt.Fprintf(stdout, "  %s\n", p)
			}
		case err != nil:
			bad++
			fmt.Fprintf(stdout, "%s: %v\n", file, err)
		default:
			fmt.Fprintf(stdout, "%s: ok (%s: %d node%s, %d step%s)\n", file, sc.Name, len(sc.Nodes), plural(len(sc.Nodes)), len(sc.Steps), plural(len(sc.Steps)))
		}
	}
	if bad > 0 {
		return &exitError{code: ExitUsage, err: fmt.Errorf("%d of %d files invalid", bad, len(args)), quiet: true}
	}
	return nil
}

func sweep(args []string, stdout io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usageErr("sweep: name exactly one lab prefix")
	}
	if !nsutil.IsRoot() {
		return &exitError{code: ExitLab, err: errors.New("sweep needs root")}
	}
	left, err := node.Leftovers(args[0])
	if err != nil {
		return &exitError{code: ExitLab, err: err}
	}
	if err := node.Sweep(args[0]); err != nil {
		return &exitError{code: ExitLab, err: err}
	}
	fmt.Fprintf(stdout, "swept %d leftovers of %s\n", len(left), args[0])
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

type runFlags struct {
	report, trace, replay, prefix, log, color string
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
	var f runFlags
	fs := flag.NewFlagSet("enilab run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.report, "report", "", "write the report JSON here")
	fs.StringVar(&f.trace, "trace", "", "write the EC2 request trace (JSON Lines) here")
	fs.StringVar(&f.replay, "replay", "", "re-inject the faults of this trace")
	fs.StringVar(&f.prefix, "prefix", "", "name prefix of the lab's namespaces and links (default random)")
	fs.StringVar(&f.log, "log", "", "write the lab's own logs (ipamd, nodes) to this file")
	fs.StringVar(&f.color, "color", "auto", "colour the timeline: auto, always or never")
	pos, perr := parseInterleaved(fs, args)
	if perr != nil {
		return usageErr("run: %v", perr)
	}
	if len(pos) != 1 {
		return usageErr("run: name exactly one scenario file")
	}
	var color bool
	switch f.color {
	case "auto":
		color = isTerminal(stdout) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	case "always":
		color = true
	case "never":
	default:
		return usageErr("run: --color wants auto, always or never, got %q", f.color)
	}
	sc, lerr := scenario.Load(pos[0])
	if lerr != nil {
		var probs scenario.Problems
		if errors.As(lerr, &probs) {
			fmt.Fprintf(stderr, "%s: %d problem%s\n", pos[0], len(probs), plural(len(probs)))
			for _, p := range probs {
				fmt.Fprintf(stderr, "  %s\n", p)
			}
			return &exitError{code: ExitUsage, err: lerr, quiet: true}
		}
		return &exitError{code: ExitUsage, err: lerr}
	}
	if c.NeedRoot && !nsutil.IsRoot() {
		return &exitError{code: ExitLab, err: errors.New("run needs root: a lab is made of network namespaces (try sudo, or `enilab validate` to only check the file)")}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := scenario.Options{Out: brokenPipe{w: stdout, cancel: cancel}, Color: color, NewLab: c.NewLab, Lab: scenario.LabOptions{Prefix: f.prefix}}
	var closers []io.Closer
	defer func() {
		for _, cl := range closers {
			if cerr := cl.Close(); cerr != nil && err == nil {
				err = &exitError{code: ExitLab, err: cerr}
			}
		}
	}()
	if f.replay != "" && f.trace != "" && sameFile(f.replay, f.trace) {
		return usageErr("run: --trace would overwrite the --replay trace %s; write the new trace elsewhere", f.replay)
	}
	// The replay trace is read; the others are written from scratch. All are
	// opened before the lab is built, so a bad path costs nothing.
	for _, ff := range []struct {
		flag, path string
		open       func(string) (*os.File, error)
		use        func(*os.File)
	}{
		{"replay", f.replay, os.Open, func(fl *os.File) { opts.Lab.Replay = fl }},
		{"trace", f.trace, os.Create, func(fl *os.File) { opts.Lab.Trace = fl }},
		{"log", f.log, os.Create, func(fl *os.File) { opts.Lab.Log = fl }},
	} {
		if ff.path == "" {
			continue
		}
		fl, oerr := ff.open(ff.path)
		if oerr != nil {
			return &exitError{code: ExitUsage, err: fmt.Errorf("--%s: %w", ff.flag, oerr)}
		}
		closers = append(closers, fl)
		ff.use(fl)
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
