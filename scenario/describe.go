package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/enilab/enilab/internal/datapath"
)

// Describe renders the step compactly for the timeline.
func (s Step) Describe() string {
	switch s.Kind {
	case KindPods:
		if s.Pods.Add > 0 {
			return fmt.Sprintf("pods: add %d on %s", s.Pods.Add, s.Pods.Node)
		}
		return fmt.Sprintf("pods: delete %d on %s", s.Pods.Delete, s.Pods.Node)
	case KindExpect:
		return "expect: " + s.Expect.Describe()
	case KindFault:
		return "fault: " + s.Fault.Describe()
	case KindRestart:
		if len(s.Restart.Env) > 0 {
			return fmt.Sprintf("restart: ipamd on %s with %s", s.Restart.Node, envString(s.Restart.Env))
		}
		return "restart: ipamd on " + s.Restart.Node
	case KindPing:
		want := "ok"
		if !s.Ping.ExpectOK {
			want = "fail"
		}
		return fmt.Sprintf("ping: %s → %s, expect %s", s.Ping.From, s.Ping.To, want)
	case KindSleep:
		return "sleep: " + fmtDur(s.Sleep)
	case KindBreakRule:
		return fmt.Sprintf("breakRule: delete the from-IP rule (prio %d) of %s", datapath.FromPodRulePriority, s.Rule.Pod)
	case KindFixRule:
		return fmt.Sprintf("fixRule: restore the from-IP rule (prio %d) of %s", datapath.FromPodRulePriority, s.Rule.Pod)
	case KindCheckpoint:
		return fmt.Sprintf("checkpoint: %s on %s", s.Checkpoint.Action, s.Checkpoint.Node)
	}
	return s.Kind
}

// Describe renders the expectation as key=value pairs.
func (e *Expect) Describe() string {
	var parts []string
	if e.Node != "" {
		parts = append(parts, e.Node)
	}
	for _, k := range NodeKeys {
		if v, ok := e.Figures[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(e.SubnetFree)) {
		parts = append(parts, fmt.Sprintf("subnetFree[%s]=%d", id, e.SubnetFree[id]))
	}
	for _, c := range slices.Sorted(maps.Keys(e.EC2Errors)) {
		parts = append(parts, fmt.Sprintf("ec2Errors[%s]≥%d", c, e.EC2Errors[c]))
	}
	return strings.Join(parts, " ") + " within " + fmtDur(e.Within)
}

// Describe renders the fault compactly.
func (f *Fault) Describe() string {
	ops := "all actions"
	if len(f.Operations) > 0 {
		ops = strings.Join(f.Operations, ",")
	}
	s := fmt.Sprintf("%s on %s at %d%%", f.Kind, ops, f.Percentage)
	if f.After > 0 {
		s += fmt.Sprintf(" after %d calls", f.After)
	}
	if f.Delay > 0 {
		s += " starting in " + fmtDur(f.Delay)
	}
	if f.Duration > 0 {
		s += " for " + fmtDur(f.Duration)
	}
	if f.Count > 0 {
		s += fmt.Sprintf(" for %d calls", f.Count)
	}
	return s
}

// envString is "K=V K2=V2", sorted by name.
func envString(env map[string]string) string {
	parts := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		parts = append(parts, k+"="+env[k])
	}
	return strings.Join(parts, " ")
}
