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
	case KindDeploy:
		return s.Deploy.describe()
	case KindDelete:
		return s.Delete.describe()
	case KindNodes:
		return s.Nodes.describe()
	case KindIPAMD:
		return s.IPAMD.describe()
	case KindFault:
		return "fault: " + s.Fault.Describe()
	case KindRestart:
		if len(s.Restart.Env) > 0 {
			return fmt.Sprintf("restart: ipamd on %s with %s", s.Restart.Node, envString(s.Restart.Env))
		}
		if s.Restart.Down > 0 {
			return fmt.Sprintf("restart: ipamd on %s, down for %s", s.Restart.Node, fmtDur(s.Restart.Down))
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
	case KindCurl:
		want := "ok"
		if !s.Curl.ExpectOK {
			want = "timeout"
		}
		return fmt.Sprintf("curl: %s → %s, expect %s", s.Curl.From, s.Curl.To, want)
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
	if g := e.EgressSource; g != nil {
		parts = append(parts, fmt.Sprintf("egressSource[%s]=%s", g.From, g.IP))
	}
	for _, c := range slices.Sorted(maps.Keys(e.EC2Errors)) {
		parts = append(parts, fmt.Sprintf("ec2Errors[%s]≥%d", c, e.EC2Errors[c]))
	}
	if e.Pod != nil {
		parts = append(parts, e.Pod.describe())
	}
	return strings.Join(parts, " ") + " within " + fmtDur(e.Within)
}

// figureWords names each per-node figure in words, singular and plural.
var figureWords = map[string][2]string{
	"enis": {"ENI", "ENIs"}, "totalIPs": {"address in its pool", "addresses in its pool"},
	"assignedIPs": {"address assigned to a pod", "addresses assigned to pods"},
	"warmIPs":     {"warm address", "warm addresses"}, "prefixes": {"/28 prefix", "/28 prefixes"},
	"readyPods": {"pod ready", "pods ready"}, "pendingPods": {"pod pending", "pods pending"},
	"rejectedPods":  {"pod rejected", "pods rejected"},
	"ipamdRestarts": {"aws-node restart", "aws-node restarts"},
	"ipv6Prefixes":  {"IPv6 /80 prefix", "IPv6 /80 prefixes"},
	"branchENIs":    {"branch ENI", "branch ENIs"},
}

// Words says what the expectation checks, in a sentence.
func (e *Expect) Words() string {
	var parts []string
	var figures []string
	for _, k := range NodeKeys {
		v, ok := e.Figures[k]
		if !ok {
			continue
		}
		if k == "maxPods" {
			figures = append(figures, fmt.Sprintf("a max pods of %d", v))
			continue
		}
		w, known := figureWords[k]
		if !known {
			w = [2]string{k, k}
		}
		name := w[1]
		if v == 1 {
			name = w[0]
		}
		figures = append(figures, fmt.Sprintf("%d %s", v, name))
	}
	if len(figures) > 0 {
		parts = append(parts, e.Node+" has "+strings.Join(figures, ", "))
	}
	for _, id := range slices.Sorted(maps.Keys(e.SubnetFree)) {
		parts = append(parts, fmt.Sprintf("subnet %s has %d free addresses", id, e.SubnetFree[id]))
	}
	for _, c := range slices.Sorted(maps.Keys(e.EC2Errors)) {
		times := fmt.Sprintf("at least %d times", e.EC2Errors[c])
		if e.EC2Errors[c] == 1 {
			times = "at least once"
		}
		parts = append(parts, fmt.Sprintf("EC2 has answered %s %s", c, times))
	}
	if g := e.EgressSource; g != nil {
		parts = append(parts, fmt.Sprintf("the internet host saw %s's last connection come from the %s", g.From, g.IP))
	}
	if e.Pod != nil {
		parts = append(parts, e.Pod.words())
	}
	return strings.Join(parts, "; ") + ", within " + fmtDur(e.Within) + " of lab time"
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
