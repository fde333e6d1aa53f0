package scenario

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Timeline prints a run as it happens: steps as they start and end, pool
// figures as they change, progress on long waits, and a final summary. Every
// line starts with the lab time, so a CI log reads like the run itself.
// Colour (ANSI) is used only when asked for, i.e. when stdout is a terminal.
type Timeline struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
	level Verbosity
}

// Verbosity chooses how much the timeline shows.
type Verbosity int

const (
	// Quiet shows each step's outcome, ipamd's warnings and exits, the
	// summary and the verdict.
	Quiet Verbosity = -1
	// Normal adds steps as they start, what each expect checks, pool
	// figures as they change, ENI and address events, and progress.
	Normal Verbosity = 0
	// Verbose adds ipamd's pool decisions (too low, too high).
	Verbose Verbosity = 1
)

// NewTimeline returns a timeline printing to w at Normal verbosity.
func NewTimeline(w io.Writer, color bool) *Timeline { return &Timeline{w: w, color: color} }

// SetVerbosity chooses how much the timeline shows from now on.
func (t *Timeline) SetVerbosity(v Verbosity) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.level = v
}

// shows reports whether lines of level v are printed.
func (t *Timeline) shows(v Verbosity) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.level >= v
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiYell   = "\x1b[33m"
)

func (t *Timeline) paint(code, s string) string {
	if !t.color || s == "" {
		return s
	}
	return code + s + ansiReset
}

// Printf prints one line stamped with lab time at.
func (t *Timeline) Printf(at time.Duration, format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "%s %s\n", t.paint(ansiDim, FormatLabTime(at)), fmt.Sprintf(format, args...))
}

// Plain prints lines without a time stamp.
func (t *Timeline) Plain(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, format+"\n", args...)
}

// FormatLabTime renders a lab time as a fixed-width stamp: "[   12.3s]".
func FormatLabTime(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < 10000*time.Second {
		return fmt.Sprintf("[%7.1fs]", d.Seconds())
	}
	m := int(d / time.Minute)
	s := (d % time.Minute).Seconds()
	return fmt.Sprintf("[%4dm%04.1fs]", m, s)
}

// fmtDur renders a duration compactly: 500ms, 1.5s, 30s, 1m30s, 2m, 1h5m.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Header prints what the run is about to do.
func (t *Timeline) Header(sc *Scenario) {
	groups := map[string]int{}
	for _, n := range sc.Nodes {
		groups[n.InstanceType]++
	}
	var types []string
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		types = append(types, fmt.Sprintf("%d× %s", groups[k], k))
	}
	throttle := sc.EC2.Throttle
	if throttle == "custom" {
		throttle = fmt.Sprintf("custom (%d actions)", len(sc.EC2.Buckets))
	}
	t.Plain("%s %s", t.paint(ansiBold, "enilab run"), t.paint(ansiBold+ansiCyan, sc.Name)+"  ("+sc.File+")")
	for _, line := range strings.Split(strings.TrimSpace(sc.Description), "\n") {
		if line != "" {
			t.Plain("  %s", line)
		}
	}
	t.Plain("  seed %d · timeScale %g (1s of lab time takes %s) · EC2 throttle %s", sc.Seed, sc.TimeScale, fmtDur(time.Duration(float64(time.Second)*sc.TimeScale)), throttle)
	t.Plain("  vpc %s · %d subnet%s · nodes %s · %d steps", sc.VPC.CIDR, len(sc.VPC.Subnets), plural(len(sc.VPC.Subnets)), strings.Join(types, ", "), len(sc.Steps))
	if len(sc.EC2.Latency) > 0 {
		var lat []string
		for _, a := range slices.Sorted(maps.Keys(sc.EC2.Latency)) {
			lat = append(lat, a+" "+sc.EC2.Latency[a].String())
		}
		t.Plain("  ec2 latency %s", strings.Join(lat, ", "))
	}
	if len(sc.IPAMDEnv) > 0 {
		var env []string
		for _, k := range slices.Sorted(maps.Keys(sc.IPAMDEnv)) {
			env = append(env, k+"="+sc.IPAMDEnv[k])
		}
		t.Plain("  ipamd %s", strings.Join(env, " "))
	}
	t.Plain("")
}

// StepStart prints a step beginning.
func (t *Timeline) StepStart(at time.Duration, st Step, total int) {
	if !t.shows(Normal) {
		return
	}
	t.Printf(at, "%s %s", t.paint(ansiBold, fmt.Sprintf("▶ step %d/%d", st.Index+1, total)), st.Describe())
	if st.Kind == KindExpect {
		t.Printf(at, "  %s", t.paint(ansiDim, "checks that "+st.Expect.Words()))
	}
}

// StepEnd prints a step's outcome.
func (t *Timeline) StepEnd(at time.Duration, st Step, total int, ok bool, took time.Duration, msg string) {
	mark := t.paint(ansiGreen, fmt.Sprintf("✓ step %d/%d", st.Index+1, total))
	if !ok {
		mark = t.paint(ansiRed+ansiBold, fmt.Sprintf("✗ step %d/%d FAILED", st.Index+1, total))
	}
	t.Printf(at, "%s (%s) %s", mark, fmtDur(took), msg)
}

// Progress prints a note during a long wait.
func (t *Timeline) Progress(at time.Duration, format string, args ...any) {
	if !t.shows(Normal) {
		return
	}
	t.Printf(at, "  %s", t.paint(ansiYell, "… "+fmt.Sprintf(format, args...)))
}

// Pool prints a node's figures after a change.
func (t *Timeline) Pool(at time.Duration, prev *NodeState, cur NodeState) {
	if !t.shows(Normal) {
		return
	}
	t.Printf(at, "  %s", t.paint(ansiCyan, FormatPoolChange(prev, cur)))
}

// IPAMDEvent prints one of the node's aws-node events: an exit or restart
// of ipamd, one of its warnings, an ENI or address change, or (Verbose) a
// pool decision.
func (t *Timeline) IPAMDEvent(at time.Duration, node string, e NodeEvent) {
	switch {
	case e.Detail && !t.shows(Verbose):
		return
	case !e.Exited && !e.Warning && !t.shows(Normal):
		return
	}
	colour := ansiGreen
	if e.Detail {
		colour = ansiDim
	}
	switch {
	case e.Exited:
		colour = ansiRed
	case e.Warning:
		colour = ansiYellow
	}
	t.Printf(at, "  %s", t.paint(colour, fmt.Sprintf("%-8s %s", node, e.Message)))
}

// FormatPoolChange renders a node's pool figures, with "old→new" for the
// ones that changed since prev (nil for the first sighting).
func FormatPoolChange(prev *NodeState, cur NodeState) string {
	f := func(name string, old, now int) string {
		if prev == nil || old == now {
			return fmt.Sprintf("%s %d", name, now)
		}
		return fmt.Sprintf("%s %d→%d", name, old, now)
	}
	var p NodeState
	if prev != nil {
		p = *prev
	}
	parts := []string{
		fmt.Sprintf("%-8s", cur.Name),
		f("ENIs", p.ENIs, cur.ENIs),
		f("IPs", p.TotalIPs, cur.TotalIPs),
		f("assigned", p.AssignedIPs, cur.AssignedIPs),
		f("warm", p.WarmIPs, cur.WarmIPs),
	}
	if cur.Prefixes > 0 || p.Prefixes > 0 {
		parts = append(parts, f("prefixes", p.Prefixes, cur.Prefixes))
	}
	pods := fmt.Sprintf("pods %d ready", cur.ReadyPods)
	if cur.PendingPods > 0 {
		pods += fmt.Sprintf(", %d pending", cur.PendingPods)
	}
	if cur.RejectedPods > 0 {
		pods += fmt.Sprintf(", %d rejected", cur.RejectedPods)
	}
	return strings.Join(parts, "  ") + "  · " + pods
}

// poolChanged reports whether the figures the timeline follows moved.
func poolChanged(a, b NodeState) bool {
	return a.ENIs != b.ENIs || a.TotalIPs != b.TotalIPs || a.AssignedIPs != b.AssignedIPs ||
		a.Prefixes != b.Prefixes || a.RejectedPods != b.RejectedPods || a.ReadyPods != b.ReadyPods
}

// Summary prints the final tables: nodes, subnets, EC2 counters, pod start
// latency.
func (t *Timeline) Summary(s Snapshot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintln(t.w)
	fmt.Fprint(t.w, FormatSummary(s))
}

// Result prints the final verdict.
func (t *Timeline) Result(passed bool, steps, failed int, realTook time.Duration) {
	if passed {
		t.Plain("\n%s all %d steps ok (real time %s)", t.paint(ansiGreen+ansiBold, "PASSED"), steps, fmtDur(realTook))
		return
	}
	t.Plain("\n%s %d of %d steps failed (real time %s)", t.paint(ansiRed+ansiBold, "FAILED"), failed, steps, fmtDur(realTook))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
