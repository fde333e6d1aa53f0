package scenario

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ReportVersion is the version of the report JSON format (Report.Version).
// Adding a field keeps it; renaming, removing or changing the meaning of
// one bumps it, and MergeReports refuses reports newer than it knows.
const ReportVersion = 1

// MergeReports combines the reports of independent runs — `compare
// --shard i/n` shards, or runs on several machines — into one: steps,
// nodes, subnets, pods and series side by side, EC2 counters summed, pod
// latency percentiles computed again over every pod, passed only if all
// passed. When two reports name the same node, each report's nodes and
// pods are prefixed with its scenario name (and shard).
func MergeReports(reps []*Report) (*Report, error) {
	if len(reps) == 0 {
		return nil, fmt.Errorf("merge: no reports")
	}
	out := &Report{Version: ReportVersion, Passed: true, EC2: EC2Report{Calls: map[string]int{}, Errors: map[string]int{}}}
	var names []string
	for i, r := range reps {
		// Version 0: a report written before the field existed, in the
		// format of version 1.
		if r.Version > ReportVersion {
			return nil, fmt.Errorf("merge: report %d (%s) has format version %d; this enilab reads up to %d", i+1, r.Scenario, r.Version, ReportVersion)
		}
		if !slices.Contains(names, r.Scenario) {
			names = append(names, r.Scenario)
		}
		if r.Shard != "" {
			out.Shards = append(out.Shards, r.Shard)
		}
		out.Shards = append(out.Shards, r.Shards...)
	}
	out.Scenario = strings.Join(names, " + ")
	prefix := nodeNamesCollide(reps)
	var lat []time.Duration
	for _, r := range reps {
		p := ""
		if prefix {
			p = reportLabel(r) + "/"
		}
		out.Passed = out.Passed && r.Passed
		out.Steps = append(out.Steps, r.Steps...)
		out.Subnets = append(out.Subnets, r.Subnets...)
		for _, n := range r.Nodes {
			n.Name = p + n.Name
			out.Nodes = append(out.Nodes, n)
		}
		for _, pod := range r.Pods.Items {
			pod.Node = p + pod.Node
			pod.Name = p + pod.Name
			out.Pods.Items = append(out.Pods.Items, pod)
			if pod.ReadyLatencyMs > 0 {
				lat = append(lat, time.Duration(pod.ReadyLatencyMs)*time.Millisecond)
			}
		}
		for _, s := range r.Series.Nodes {
			s.Node = p + s.Node
			out.Series.Nodes = append(out.Series.Nodes, s)
		}
		mergeEC2(&out.EC2, r.EC2)
		out.Series.EC2 = append(out.Series.EC2, r.Series.EC2...)
	}
	out.Series.EC2 = sumSeconds(out.Series.EC2)
	out.Pods.ReadyLatencyMs = LatencyPercentiles(lat)
	return out, nil
}

// reportLabel names a report among others: its scenario and shard.
func reportLabel(r *Report) string {
	if r.Shard != "" {
		return r.Scenario + "@" + r.Shard
	}
	return r.Scenario
}

func nodeNamesCollide(reps []*Report) bool {
	seen := map[string]bool{}
	for _, r := range reps {
		for _, n := range r.Nodes {
			if seen[n.Name] {
				return true
			}
			seen[n.Name] = true
		}
	}
	return false
}

func mergeEC2(dst *EC2Report, src EC2Report) {
	for k, v := range src.Calls {
		dst.Calls[k] += v
	}
	for k, v := range src.Errors {
		dst.Errors[k] += v
	}
	dst.Throttled += src.Throttled
	dst.FaultsInjected += src.FaultsInjected
}

// sumSeconds adds up rows of the same action and second, sorted as a
// report's series is (action, then second).
func sumSeconds(rows []EC2Second) []EC2Second {
	slices.SortFunc(rows, func(a, b EC2Second) int {
		return cmp.Or(cmp.Compare(a.Action, b.Action), cmp.Compare(a.Second, b.Second))
	})
	var out []EC2Second
	for _, r := range rows {
		if k := len(out) - 1; k >= 0 && out[k].Action == r.Action && out[k].Second == r.Second {
			out[k].Calls += r.Calls
			out[k].Errors += r.Errors
			out[k].Throttles += r.Throttles
			continue
		}
		out = append(out, r)
	}
	return out
}
