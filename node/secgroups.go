package node

import (
	"fmt"
	"maps"
	"slices"
)

// SecurityGroupPolicy is the vpcresources.k8s.aws/v1beta1 object of that
// name as the lab's resource controller reads it: a pod whose labels hold
// every PodSelector pair (an empty selector matches every pod) gets a
// branch ENI with SecurityGroups (group ids).
type SecurityGroupPolicy struct {
	Name           string
	PodSelector    map[string]string
	SecurityGroups []string
}

// matches says whether the policy selects a pod with labels.
func (p SecurityGroupPolicy) matches(labels map[string]string) bool {
	for k, v := range p.PodSelector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// SetSecurityGroupPolicies replaces the lab's SecurityGroupPolicies; pods
// admitted from now on are matched against them.
func (l *Lab) SetSecurityGroupPolicies(ps []SecurityGroupPolicy) error {
	for _, p := range ps {
		if p.Name == "" {
			return fmt.Errorf("node: security group policy: a name is needed")
		}
		if len(p.SecurityGroups) == 0 {
			return fmt.Errorf("node: security group policy %s: at least one security group is needed", p.Name)
		}
	}
	rc := l.resourceController()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.policies = slices.Clone(ps)
	return nil
}

// groupsFor returns the groups of every policy that selects labels, in
// policy order without repeats (the resource controller unions them), and
// the names of those policies; no groups when none selects the pod.
func (rc *resourceCtl) groupsFor(labels map[string]string) (groups, policies []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, p := range rc.policies {
		if !p.matches(labels) {
			continue
		}
		policies = append(policies, p.Name)
		for _, g := range p.SecurityGroups {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	return groups, policies
}

// CreateSecurityGroup creates a security group in the lab's VPC and
// returns its id.
func (l *Lab) CreateSecurityGroup(name string) (string, error) {
	vpcID := l.ec2.Subnets()[0].VPCID
	id, err := l.ec2.CreateSecurityGroup(name, vpcID)
	if err != nil {
		return "", fmt.Errorf("node: security group %s: %w", name, err)
	}
	return id, nil
}

// cloneLabels copies a label map (nil stays nil).
func cloneLabels(m map[string]string) map[string]string { return maps.Clone(m) }
