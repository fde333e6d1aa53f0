package nodelab

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
)

var _ scenario.SecurityGroupLab = (*scenarioLab)(nil)

// SetupSecurityGroups creates the file's groups with their rules, hands
// the policies (group names turned into ids) to the lab's resource
// controller and turns the fabric's security group filter on.
func (l *scenarioLab) SetupSecurityGroups(ctx context.Context, groups []scenario.SecurityGroup, policies []scenario.SecurityGroupPolicy, hosts []scenario.Host) error {
	ids := map[string]string{}
	for _, g := range groups {
		id, err := l.lab.CreateSecurityGroup(g.Name)
		if err != nil {
			return err
		}
		ids[g.Name] = id
	}
	for _, g := range groups {
		for _, dir := range []struct {
			rules  []scenario.SGRule
			egress bool
		}{{g.Ingress, false}, {g.Egress, true}} {
			for _, r := range dir.rules {
				rule, err := sgRule(r, dir.egress, ids)
				if err == nil {
					err = l.lab.AuthorizeSecurityGroup(ctx, ids[g.Name], rule)
				}
				if err != nil {
					return fmt.Errorf("group %s: %w", g.Name, err)
				}
			}
		}
	}
	groupIDs := func(names []string) []string {
		var out []string
		for _, g := range names {
			if id, ok := ids[g]; ok {
				g = id
			}
			out = append(out, g)
		}
		return out
	}
	var ps []node.SecurityGroupPolicy
	for _, p := range policies {
		ps = append(ps, node.SecurityGroupPolicy{Name: p.Name, PodSelector: p.PodSelector, SecurityGroups: groupIDs(p.SecurityGroups)})
	}
	for _, h := range hosts {
		if _, err := l.lab.AddVPCHost(ctx, h.Name, h.Subnet, groupIDs(h.SecurityGroups), h.Port); err != nil {
			return err
		}
	}
	if err := l.lab.SetSecurityGroupPolicies(ps); err != nil {
		return err
	}
	return l.lab.EnforceSecurityGroups(ctx, true)
}

func sgRule(r scenario.SGRule, egress bool, ids map[string]string) (fakeec2.SecurityGroupRule, error) {
	proto := r.Protocol
	if proto == "all" {
		proto = "-1"
	}
	out := fakeec2.SecurityGroupRule{Egress: egress, Protocol: proto, FromPort: r.FromPort, ToPort: r.ToPort}
	if r.Group != "" {
		id, ok := ids[r.Group]
		if !ok {
			return out, fmt.Errorf("rule names group %q, which the file does not define", r.Group)
		}
		out.GroupID = id
		return out, nil
	}
	p, err := netip.ParsePrefix(r.CIDR)
	if err != nil {
		return out, fmt.Errorf("rule cidr %q: %w", r.CIDR, err)
	}
	out.CIDR = p
	return out, nil
}
