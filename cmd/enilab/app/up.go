package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/scenario"
)

// upFlagSet is up's flags: run's, and the lab's name.
func upFlagSet(name string, f *runFlags) *flag.FlagSet {
	fs := labFlagSet(name, f)
	fs.StringVar(&f.name, "name", "", "the lab's name, also the prefix of its namespaces and links (default: the file's name and a random suffix; --prefix works too)")
	return fs
}

// parseUpFlags reads up's flags and its one scenario file; the lab's name
// is --name, else --prefix, else made from the file's name.
func parseUpFlags(cmd string, args []string) (f runFlags, file string, err error) {
	pos, perr := parseInterleaved(upFlagSet("enilab "+cmd, &f), args)
	if perr != nil {
		return f, "", usageErr("%s: %v", cmd, perr)
	}
	if len(pos) != 1 {
		return f, "", usageErr("%s: name exactly one scenario file", cmd)
	}
	if f.name == "" {
		f.name = f.prefix
	}
	if f.name == "" {
		f.name = defaultName(pos[0])
	}
	if err := checkName(f.name); err != nil {
		return f, "", usageErr("%s: %v", cmd, err)
	}
	return f, pos[0], nil
}

// withoutKeep is run's arguments as up's.
func withoutKeep(args []string) []string {
	return slices.DeleteFunc(slices.Clone(args), func(a string) bool {
		return a == "--keep" || a == "-keep" || a == "--keep=true" || a == "-keep=true"
	})
}

// up starts a supervisor that builds the lab, runs the file's steps and
// keeps the lab up; it streams the timeline until the steps are done,
// then prints how to look inside and exits as run would.
func (c CLI) up(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, file, err := parseUpFlags("up", args)
	if err != nil {
		return err
	}
	color, err := f.useColor(stdout)
	if err != nil {
		return err
	}
	if _, err := f.verbosity(); err != nil {
		return err
	}
	sc, err := loadScenario(file, stderr)
	if err != nil {
		return err
	}
	if err := f.override(sc); err != nil {
		return usageErr("up: %v", err)
	}
	if err := f.checkSeriesPaths(); err != nil {
		return err
	}
	if c.NeedRoot && !nsutil.IsRoot() {
		return &exitError{code: ExitLab, err: errors.New("up needs root: a lab is made of network namespaces (try sudo)")}
	}
	if err := claimName(f.name, stdout); err != nil {
		return err
	}
	sup, tl, err := c.startSupervisor(f.name, args, color)
	if err != nil {
		_ = os.RemoveAll(runDir(f.name))
		return &exitError{code: ExitLab, err: err}
	}
	if err := follow(ctx, tl, stdout); err != nil {
		fmt.Fprintf(stdout, "\n%s: the lab stays up; stop it with `enilab down %s`\n", err, f.name)
		return &exitError{code: ExitInterrupted, err: err, quiet: true}
	}
	return afterSteps(ctx, f.name, sup, stdout)
}

// loadScenario loads and checks the file, printing its problems and
// warnings as run does.
func loadScenario(file string, stderr io.Writer) (*scenario.Scenario, error) {
	sc, err := scenario.Load(file)
	if err != nil {
		var probs scenario.Problems
		if errors.As(err, &probs) {
			printProblems(stderr, file, probs)
			return nil, &exitError{code: ExitUsage, err: err, quiet: true}
		}
		return nil, &exitError{code: ExitUsage, err: err}
	}
	printWarnings(stderr, sc.Warnings)
	return sc, nil
}

// claimName creates the lab's run directory: a live lab of that name is
// refused, a stale one (its supervisor is gone) cleaned first.
func claimName(name string, stdout io.Writer) error {
	labs, err := listLabs()
	if err != nil {
		return &exitError{code: ExitLab, err: err}
	}
	for _, l := range labs {
		switch {
		case l.name == name && l.alive:
			return &exitError{code: ExitUsage, err: fmt.Errorf("lab %s is already up (supervisor pid %d): `enilab down %s`, or choose another --name", name, l.pid, name)}
		case l.name == name && l.starting:
			return &exitError{code: ExitUsage, err: fmt.Errorf("lab %s is being started by another `enilab up`", name)}
		case l.name == name:
			fmt.Fprintf(stdout, "cleaning the stale lab %s (its supervisor is gone)\n", name)
			if err := cleanStale(l); err != nil {
				return &exitError{code: ExitLab, err: err}
			}
		case (l.alive || l.starting) && overlapping(name, []liveLab{l}) != "":
			return &exitError{code: ExitUsage, err: fmt.Errorf("lab name %s overlaps the live lab %s (one is a prefix of the other, so sweeping one would touch the other): choose another --name", name, l.name)}
		}
	}
	if err := os.MkdirAll(liveRoot(), 0o755); err != nil {
		return &exitError{code: ExitLab, err: fmt.Errorf("run directory: %w", err)}
	}
	if err := os.Mkdir(runDir(name), 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return &exitError{code: ExitUsage, err: fmt.Errorf("lab %s is being started by another `enilab up`", name)}
		}
		return &exitError{code: ExitLab, err: fmt.Errorf("run directory: %w", err)}
	}
	return nil
}

// startSupervisor re-executes this binary as the lab's supervisor in a
// session of its own (a terminal's Ctrl-C or hang-up does not reach it),
// its output in the run directory's log; it returns the process and the
// pipe the timeline of the file's steps comes through.
func (c CLI) startSupervisor(name string, args []string, color bool) (*exec.Cmd, *os.File, error) {
	self := c.Self
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return nil, nil, fmt.Errorf("finding the enilab binary: %w", err)
		}
	}
	logf, err := os.Create(filepath.Join(runDir(name), logFile))
	if err != nil {
		return nil, nil, fmt.Errorf("supervisor log: %w", err)
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer pw.Close()
	colorWord := "never"
	if color {
		colorWord = "always"
	}
	cmd := exec.Command(self, append(append([]string{superviseCmd}, args...), "--name", name, "--color", colorWord)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{pw} // timelineFD
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		pr.Close()
		return nil, nil, fmt.Errorf("starting the supervisor: %w", err)
	}
	return cmd, pr, nil
}

// follow copies the timeline until the supervisor closes it, or until ctx
// ends (the lab stays up).
func follow(ctx context.Context, tl *os.File, stdout io.Writer) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := io.Copy(stdout, tl); err != nil {
			// stdout is gone (`enilab up … | head`): the steps still
			// end before up does.
			_, _ = io.Copy(io.Discard, tl)
		}
	}()
	select {
	case <-done:
		tl.Close()
		return nil
	case <-ctx.Done():
		tl.Close()
		<-done
		return errors.New("interrupted")
	}
}

// afterSteps asks the supervisor how the file's steps went and prints how
// to look inside; a supervisor that is gone has torn its lab down, and its
// exit status is up's.
func afterSteps(ctx context.Context, name string, sup *exec.Cmd, stdout io.Writer) error {
	l, err := readLab(name)
	var st liveStatus
	if err == nil && l.state != nil {
		st, err = newAPIClient(l.state.Socket).status(ctx)
	}
	if err != nil || st.Steps == nil || l.state == nil || st.Phase != "up" {
		werr := sup.Wait()
		switch code := sup.ProcessState.ExitCode(); {
		case code == 0:
			return &exitError{code: ExitInterrupted, err: errors.New("the lab was torn down (its supervisor was stopped) before `up` could hand it over")}
		case code > 0:
			// The supervisor's own status: the timeline has said why.
			return &exitError{code: code, err: fmt.Errorf("the lab is not up (supervisor: %v)", werr), quiet: code != ExitLab}
		}
		return &exitError{code: ExitLab, err: fmt.Errorf("the lab is not up: its supervisor died (%v)", werr)}
	}
	// The supervisor lives on without us.
	_ = sup.Process.Release()
	printLookInside(stdout, *l.state)
	if st.Steps.Code != ExitOK {
		return &exitError{code: st.Steps.Code, err: errors.New(st.Steps.Message), quiet: true}
	}
	return nil
}

// printLookInside prints the lab's name, namespaces, logs, commands to
// look inside and how to stop it.
func printLookInside(w io.Writer, st labState) {
	fmt.Fprintf(w, "\nlab %s is up (supervisor pid %d, run directory %s)\n", st.Name, st.PID, runDir(st.Name))
	for _, n := range st.Nodes {
		fmt.Fprintf(w, "  %-8s netns %-24s %s\n", n.Name, n.NetNS, n.InstanceID)
		fmt.Fprintf(w, "           logs  %s\n                 %s\n", n.IPAMDLog, n.PluginLog)
	}
	if len(st.Nodes) == 0 {
		return
	}
	n := st.Nodes[0]
	x := "enilab exec " + st.Name + " " + n.Name + " -- "
	fmt.Fprintf(w, "look inside (any node; a pod as %s/pod-1):\n", n.Name)
	for _, c := range []string{"ip rule", "ip route show table 2", "curl -s 127.0.0.1:61679/v1/enis", "curl -s 127.0.0.1:61678/metrics",
		"aws ec2 describe-network-interfaces --endpoint-url http://169.254.169.250 --region us-west-2"} {
		fmt.Fprintf(w, "  %s%s\n", x, c)
	}
	fmt.Fprintf(w, "  ip netns exec %s ip rule\n", n.NetNS)
	fmt.Fprintf(w, "  enilab status %s\n", st.Name)
	fmt.Fprintf(w, "  enilab step %s '{pods: {node: %s, add: 3}}'\n", st.Name, n.Name)
	fmt.Fprintf(w, "stop it (namespaces, logs and run directory go): enilab down %s\n", st.Name)
}

// waitGone polls until the supervisor has exited and its run directory is
// gone.
func waitGone(ctx context.Context, name string, pid int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		_, statErr := os.Stat(runDir(name))
		if !isSupervisor(pid, name) && errors.Is(statErr, os.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab %s: supervisor %d still there after %s (its log: %s)", name, pid, limit, filepath.Join(runDir(name), logFile))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
