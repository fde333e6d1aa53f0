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

// Host is one entry of `hosts:`: a machine in the VPC that is not a node
// (a database), with an ENI of its own in Subnet, the groups named (names
// of `securityGroups:` entries, or ids) and one TCP port open; a curl
// step's `to:` names it.
type Host struct {
	Name           string
	Subnet         string
	SecurityGroups []string
	Port           int
}

// SecurityGroupLab is a lab that plays the VPC resource controller and
// enforces security groups in its fabric. Run asks a Lab for it when the
// file has `securityGroups:` or `securityGroupPolicies:`.
type SecurityGroupLab interface {
	SetupSecurityGroups(ctx context.Context, groups []SecurityGroup, policies []SecurityGroupPolicy, hosts []Host) error
}

// setupSecurityGroups hands the file's groups and policies to the lab
// before any node starts.
func (r *runner) setupSecurityGroups(ctx context.Context) error {
	if len(r.sc.SecurityGroups) == 0 && len(r.sc.SecurityGroupPolicies) == 0 && len(r.sc.Hosts) == 0 {
		return nil
	}
	l, ok := r.lab.(SecurityGroupLab)
	if !ok {
		return errNoSecurityGroups
	}
	return l.SetupSecurityGroups(ctx, r.sc.SecurityGroups, r.sc.SecurityGroupPolicies, r.sc.Hosts)
}
