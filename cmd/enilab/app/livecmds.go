package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
)

// downWait bounds how long `down` waits for a supervisor's teardown.
const downWait = 2 * time.Minute

func statusFlagSet(asJSON *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("enilab status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(asJSON, "json", false, "print the supervisor's status as JSON (name, phase, the file's steps' result, every figure)")
	return fs
}

// status prints the live node table of one lab, or of every live lab.
func status(ctx context.Context, args []string, stdout io.Writer) error {
	var asJSON bool
	pos, err := parseInterleaved(statusFlagSet(&asJSON), args)
	if err != nil {
		return usageErr("status: %v", err)
	}
	var labs []liveLab
	switch len(pos) {
	case 0:
		if labs, err = listLabs(); err != nil {
			return &exitError{code: ExitLab, err: err}
		}
		if len(labs) == 0 && !asJSON {
			fmt.Fprintln(stdout, "no live labs (start one with `enilab up FILE`)")
			return nil
		}
	case 1:
		l, err := findLab(pos[0])
		if err != nil {
			return err
		}
		labs = []liveLab{l}
	default:
		return usageErr("status: name at most one lab")
	}
	all := []liveStatus{}
	for i, l := range labs {
		st, err := labStatus(ctx, l)
		if err != nil {
			if len(pos) == 1 {
				return &exitError{code: ExitLab, err: err}
			}
			fmt.Fprintf(stdout, "lab %s: %v\n", l.name, err)
			continue
		}
		all = append(all, st)
		if !asJSON {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			printStatus(stdout, l, st)
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if len(pos) == 1 && len(all) == 1 {
			return enc.Encode(all[0])
		}
		return enc.Encode(all)
	}
	return nil
}

// labStatus asks a live lab's supervisor for its status.
func labStatus(ctx context.Context, l liveLab) (liveStatus, error) {
	if !l.alive {
		return liveStatus{}, fmt.Errorf("not up: its supervisor (pid %d) is gone; `enilab down %s` or `enilab sweep` cleans what is left", l.pid, l.name)
	}
	if l.state == nil {
		return liveStatus{Name: l.name, PID: l.pid, Phase: "starting"}, nil
	}
	return newAPIClient(l.state.Socket).status(ctx)
}

func printStatus(w io.Writer, l liveLab, st liveStatus) {
	age := ""
	if l.state != nil {
		age = ", up " + time.Since(l.state.Started).Round(time.Second).String()
	}
	fmt.Fprintf(w, "lab %s: scenario %s, %s (supervisor pid %d%s)\n", st.Name, st.Scenario, phaseWords(st), st.PID, age)
	if st.Snapshot != nil {
		fmt.Fprint(w, scenario.FormatSummary(*st.Snapshot))
	}
}

func phaseWords(st liveStatus) string {
	switch {
	case st.Phase == "up" && st.Steps != nil && st.Steps.Code != ExitOK:
		return "up; its file's steps failed"
	case st.Phase == "up":
		return "up; its file's steps passed"
	case st.Phase == "steps":
		return "running its file's steps"
	}
	return st.Phase
}

// ls lists the live labs, and stale run directories.
func ls(args []string, stdout io.Writer) error {
	if len(args) != 0 {
		return usageErr("ls: takes no arguments")
	}
	labs, err := listLabs()
	if err != nil {
		return &exitError{code: ExitLab, err: err}
	}
	if len(labs) == 0 {
		fmt.Fprintln(stdout, "no live labs (start one with `enilab up FILE`)")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCENARIO\tNODES\tPODS\tAGE\tPID")
	for _, l := range labs {
		scen, nodes, pods, age := "-", 0, 0, "-"
		if l.state != nil {
			scen, nodes, age = l.state.Scenario, len(l.state.Nodes), time.Since(l.state.Started).Round(time.Second).String()
			for _, n := range l.state.Nodes {
				pods += len(n.Pods)
			}
		}
		pid := fmt.Sprint(l.pid)
		switch {
		case l.starting:
			pid = "- (starting)"
		case !l.alive:
			pid += " (gone: `enilab down " + l.name + "` cleans up)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", l.name, scen, nodes, pods, age, pid)
	}
	return tw.Flush()
}

// down tears a live lab down and waits until its supervisor and run
// directory are gone; a stale lab's leftovers are swept.
func down(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usageErr("down: name exactly one lab (`enilab ls` lists them)")
	}
	l, err := findLab(args[0])
	if err != nil {
		return err
	}
	if l.starting {
		return &exitError{code: ExitLab, err: fmt.Errorf("lab %s is still starting (no supervisor pid yet); try again in a moment", l.name)}
	}
	if !l.alive {
		if err := cleanStale(l); err != nil {
			return &exitError{code: ExitLab, err: err}
		}
		fmt.Fprintf(stdout, "lab %s was not running (supervisor gone); swept what it left\n", l.name)
		return nil
	}
	if l.state != nil {
		resp, err := newAPIClient(l.state.Socket).do(ctx, http.MethodPost, "/down", nil)
		if err == nil {
			resp.Body.Close()
		}
	}
	if l.state == nil || err != nil {
		// Still starting, or not answering: SIGTERM does the same.
		if kerr := signalSupervisor(l); kerr != nil {
			return &exitError{code: ExitLab, err: kerr}
		}
	}
	fmt.Fprintf(stdout, "tearing lab %s down…\n", l.name)
	if err := waitGone(ctx, l.name, l.pid, downWait); err != nil {
		return &exitError{code: ExitLab, err: err}
	}
	fmt.Fprintf(stdout, "lab %s is down: namespaces, logs and run directory removed\n", l.name)
	return nil
}

// cleanStale removes what a lab whose supervisor died left: its
// namespaces and temporary directories (as `enilab sweep NAME`), and its
// run directory.
func cleanStale(l liveLab) error {
	labs, err := listLabs()
	if err != nil {
		return err
	}
	var live []liveLab
	for _, x := range labs {
		if x.alive {
			live = append(live, x)
		}
	}
	if o := overlapping(l.name, live); o != "" {
		return fmt.Errorf("lab %s: not sweeping its namespaces, the live lab %s shares the prefix; `enilab down %s` first", l.name, o, o)
	}
	if err := node.Sweep(l.name); err != nil {
		return fmt.Errorf("sweeping lab %s: %w", l.name, err)
	}
	if err := os.RemoveAll(runDir(l.name)); err != nil {
		return fmt.Errorf("lab %s: %w", l.name, err)
	}
	return nil
}

// step sends one step to a live lab and streams its timeline.
func step(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return usageErr("step: want LAB STEP, e.g. enilab step LAB '{pods: {node: node-1, add: 3}}'")
	}
	l, err := findLab(args[0])
	if err != nil {
		return err
	}
	if !l.alive || l.state == nil {
		return &exitError{code: ExitLab, err: fmt.Errorf("lab %s is not up (its supervisor is gone or still starting)", l.name)}
	}
	resp, err := newAPIClient(l.state.Socket).do(ctx, http.MethodPost, "/step", strings.NewReader(args[1]))
	if err != nil {
		return &exitError{code: ExitLab, err: fmt.Errorf("lab %s: %w", l.name, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		code := ExitLab
		if resp.StatusCode == http.StatusBadRequest {
			code = ExitUsage
		}
		return &exitError{code: code, err: fmt.Errorf("lab %s refused the step, and is untouched:\n%s", l.name, strings.TrimSpace(string(msg)))}
	}
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		return &exitError{code: ExitLab, err: fmt.Errorf("lab %s: %w", l.name, err)}
	}
	switch r := resp.Trailer.Get(resultTrailer); {
	case r == "ok":
		return nil
	case r == "failed":
		return &exitError{code: ExitFailed, err: errors.New("the step did not succeed"), quiet: true}
	case r == "interrupted":
		return &exitError{code: ExitInterrupted, err: errors.New("the step was interrupted")}
	default:
		return &exitError{code: ExitLab, err: fmt.Errorf("lab %s: step: %s", l.name, strings.TrimPrefix(r, "error: "))}
	}
}
