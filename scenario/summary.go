package scenario

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// FormatSummary renders the final tables as plain text.
func FormatSummary(s Snapshot) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tINSTANCE\tTYPE\tENIS\tIPS\tASSIGNED\tWARM\tPREFIXES\tREADY\tPENDING\tREJECTED\tMAX PODS\tIPAMD\tRESTARTS")
	for _, n := range s.Nodes {
		state := n.IPAMD
		if state == "" {
			state = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\n", n.Name, n.InstanceID, n.InstanceType,
			n.ENIs, n.TotalIPs, n.AssignedIPs, n.WarmIPs, n.Prefixes, n.ReadyPods, n.PendingPods, n.RejectedPods, n.MaxPods, state, n.IPAMDRestarts)
	}
	tw.Flush()
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBNET\tCIDR\tFREE")
	for _, sub := range s.Subnets {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", sub.ID, sub.CIDR, sub.Free)
	}
	tw.Flush()
	b.WriteString("\n")
	fmt.Fprintf(&b, "EC2: %d calls, %d errors, %d throttled, %d faults injected\n",
		s.EC2.TotalCalls(), s.EC2.TotalErrors(), s.EC2.Throttled, s.EC2.FaultsInjected)
	if len(s.EC2.Calls) > 0 {
		b.WriteString("  calls:  " + countList(s.EC2.Calls) + "\n")
	}
	if len(s.EC2.Errors) > 0 {
		b.WriteString("  errors: " + countList(s.EC2.Errors) + "\n")
	}
	if len(s.Pods) > 0 {
		b.WriteString(formatPods(s.Pods))
	}
	if len(s.Waiting) > 0 {
		b.WriteString(FormatWaiting(s.Waiting))
	}
	p := LatencyPercentiles(s.ReadyLatencies)
	if len(s.ReadyLatencies) == 0 {
		b.WriteString("pod ready latency: no pod became ready\n")
	} else {
		ms := func(v int64) string { return fmtDur(time.Duration(v) * time.Millisecond) }
		fmt.Fprintf(&b, "pod ready latency (lab time, %d pods): p50 %s  p90 %s  p99 %s  max %s\n",
			len(s.ReadyLatencies), ms(p.P50), ms(p.P90), ms(p.P99), ms(p.Max))
	}
	return b.String()
}

// maxPodRows bounds the summary's pod table; the report lists every pod.
const maxPodRows = 40

// formatPods is the per-pod table: where each pod's address is and how
// long it took to be ready.
func formatPods(ps []PodState) string {
	var b strings.Builder
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tSTATE\tIP\tENI\tDEVICE\tSUBNET\tREADY AFTER")
	for i, p := range ps {
		if i == maxPodRows {
			break
		}
		ip, eni, dev, sub, ready := "-", "-", "-", "-", "-"
		if p.IP != "" {
			ip, eni, sub = p.IP, p.ENI, p.Subnet
		}
		if p.Device >= 0 {
			dev = fmt.Sprint(p.Device)
		}
		if p.ReadyLatency > 0 {
			ready = fmtDur(p.ReadyLatency)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Phase, ip, cmp.Or(eni, "-"), dev, cmp.Or(sub, "-"), ready)
	}
	tw.Flush()
	if len(ps) > maxPodRows {
		fmt.Fprintf(&b, "… and %d more pods (the report lists every pod)\n", len(ps)-maxPodRows)
	}
	b.WriteString("\n")
	return b.String()
}

// FormatWaiting groups pods that are not running by phase and reason:
// "7 pods Pending (node-2/pod-10 … node-2/pod-16): no IP address available".
func FormatWaiting(ps []PodState) string {
	type group struct {
		phase, msg string
		names      []string
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, p := range ps {
		p.Message = genericReason(p)
		k := p.Phase + "\x00" + p.Message
		g := byKey[k]
		if g == nil {
			g = &group{phase: p.Phase, msg: p.Message}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.names = append(g.names, p.Name)
	}
	var b strings.Builder
	b.WriteString("pods not running:\n")
	for _, g := range groups {
		names := strings.Join(g.names, ", ")
		if len(g.names) > 3 {
			names = g.names[0] + " … " + g.names[len(g.names)-1]
		}
		noun := "pods"
		if len(g.names) == 1 {
			noun = "pod"
		}
		msg := g.msg
		if msg == "" {
			msg = "no reason given"
		}
		fmt.Fprintf(&b, "  %d %s %s (%s): %s\n", len(g.names), noun, g.phase, names, msg)
	}
	return b.String()
}

var libcniPrefix = regexp.MustCompile(`^plugin type="[^"]*"( name="[^"]*")? failed \((add|del|check)\): `)

// genericReason drops what makes one pod's reason differ from another's
// with the same cause: libcni's wrapper and the pod's own name.
func genericReason(p PodState) string {
	msg := libcniPrefix.ReplaceAllString(p.Message, "")
	if _, short, ok := strings.Cut(p.Name, "/"); ok {
		msg = regexp.MustCompile(`\b`+regexp.QuoteMeta(short)+`\b`).ReplaceAllString(msg, "<pod>")
	}
	return msg
}

// countList renders counts busiest first: "AssignPrivateIpAddresses 12, CreateTags 3".
func countList(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int { return cmp.Compare(m[b], m[a]) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
