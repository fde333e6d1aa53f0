package app

import (
	"fmt"
	"io"
	"strings"

	"github.com/enilab/enilab/internal/didyoumean"
	"github.com/enilab/enilab/internal/ec2limits"
	"github.com/enilab/enilab/ipamd/pool"
)

// limits prints each named instance type's limits as the VPC CNI uses them.
func limits(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageErr("limits: name at least one instance type (e.g. enilab limits m5.large)")
	}
	var types []ec2limits.Type
	for _, name := range args {
		t, ok := ec2limits.Lookup(name)
		if !ok {
			msg := fmt.Sprintf("limits: unknown instance type %q", name)
			if s := didyoumean.Closest(name, ec2limits.Names()); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return usageErr("%s", msg)
		}
		types = append(types, t)
	}
	for i, t := range types {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		printLimits(stdout, t)
	}
	return nil
}

func printLimits(w io.Writer, t ec2limits.Type) {
	enis := t.MaxENIsOnCard(t.DefaultNetworkCard)
	slots := enis * max(t.IPv4PerENI-1, 0)
	hv := string(t.Hypervisor)
	if t.BareMetal {
		hv = "bare metal"
	}
	fmt.Fprintf(w, "%s (%s, %d vCPUs, %d MiB, %s)\n", t.Name, hv, t.VCPUs, t.MemoryMiB, t.Architecture)
	row := func(k, format string, args ...any) { fmt.Fprintf(w, "  %-24s %s\n", k, fmt.Sprintf(format, args...)) }
	row("ENIs", "%d%s", enis, cardsNote(t))
	row("IPv4 addresses per ENI", "%d (1 primary + %d secondary)", t.IPv4PerENI, t.IPv4PerENI-1)
	row("pod addresses", "%d secondary IPs", slots)
	row("max pods", "%d (custom networking: %d)", pool.MaxPods(enis, t.IPv4PerENI, t.VCPUs, false, false), pool.MaxPods(enis, t.IPv4PerENI, t.VCPUs, true, false))
	if t.SupportsPrefixes() {
		row("prefix delegation", "%d /28 prefixes = %d pod addresses; max pods %d", slots, slots*16, pool.MaxPods(enis, t.IPv4PerENI, t.VCPUs, false, true))
	} else {
		row("prefix delegation", "not on this type (not Nitro): ipamd warns and uses secondary IPs")
	}
	switch {
	case t.BranchENIs > 0:
		row("branch ENIs", "%d (security groups for pods)", t.BranchENIs)
	case t.BranchENIs == 0:
		row("branch ENIs", "none: no security groups for pods")
	}
}

// cardsNote names the network cards of a multi-card type.
func cardsNote(t ec2limits.Type) string {
	if len(t.NetworkCards) <= 1 {
		return ""
	}
	var cards []string
	for _, c := range t.NetworkCards {
		cards = append(cards, fmt.Sprintf("card %d: %d", c.Index, c.MaxENIs))
	}
	return fmt.Sprintf(" on network card %d (the VPC CNI uses only that one; %s)", t.DefaultNetworkCard, strings.Join(cards, ", "))
}
