package scenario

import "context"

// SecurityGroup is one entry of `securityGroups:`: a group the lab
// creates in the VPC, by name, with its rules (a new group also keeps
// EC2's allow-all egress rule).
type SecurityGroup struct {
	Name    string
	Ingress []SGRule
	Egress  []SGRule
}

// SGRule allows one protocol and port range from (ingress) or to (egress)
// a CIDR or the members of a group of the file (Group, by name).
type SGRule struct {
	// Protocol is tcp, udp, icmp or all.
	Protocol         string
	FromPort, ToPort int // -1 for all
	CIDR             string
	Group            string
}

// SecurityGroupPolicy is one entry of `securityGroupPolicies:`: pods whose
// labels hold every PodSelector pair get a branch ENI with SecurityGroups
// (names of `securityGroups:` entries, or ids; an id EC2 does not know
// leaves the pod Pending with InvalidSecurityGroupID.NotFound).
type SecurityGroupPolicy struct {
	Name           string
	PodSelector    map[string]string
	SecurityGroups []string
}

// SecurityGroupLab is a lab that plays the VPC resource controller and
// enforces security groups in its fabric. Run asks a Lab for it when the
// file has `securityGroups:` or `securityGroupPolicies:`.
type SecurityGroupLab interface {
	SetupSecurityGroups(ctx context.Context, groups []SecurityGroup, policies []SecurityGroupPolicy) error
}

// setupSecurityGroups hands the file's groups and policies to the lab
// before any node starts.
func (r *runner) setupSecurityGroups(ctx context.Context) error {
	if len(r.sc.SecurityGroups) == 0 && len(r.sc.SecurityGroupPolicies) == 0 {
		return nil
	}
	l, ok := r.lab.(SecurityGroupLab)
	if !ok {
		return errNoSecurityGroups
	}
	return l.SetupSecurityGroups(ctx, r.sc.SecurityGroups, r.sc.SecurityGroupPolicies)
}
