package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2api "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/datapath"
)

// sgEnforcer keeps the VPC namespace's security group table in step with
// EC2 while enforcement is on.
type sgEnforcer struct {
	mu sync.Mutex
	on bool
}

// EnforceSecurityGroups turns the fabric's security group filter on or
// off. On, every ENI's traffic is filtered by its groups' rules (stateful)
// and the table follows EC2 (ENIs, addresses, rules) as events arrive; the
// lab's node group gets an all-traffic rule from its own members, as an
// EKS cluster security group has, so nodes and their pods keep talking.
// Off (the default), the fabric forwards everything, as before.
func (l *Lab) EnforceSecurityGroups(ctx context.Context, on bool) error {
	if on {
		err := l.AuthorizeSecurityGroup(ctx, l.sgID, fakeec2.SecurityGroupRule{Protocol: "-1", FromPort: -1, ToPort: -1, GroupID: l.sgID})
		if err != nil && !isDuplicateRule(err) {
			return err
		}
	}
	l.sg.mu.Lock()
	l.sg.on = on
	l.sg.mu.Unlock()
	if !on {
		return deleteSGTable(l.vpcPath)
	}
	return l.syncSecurityGroups()
}

// syncSecurityGroups rewrites the table from EC2's state when enforcement
// is on.
func (l *Lab) syncSecurityGroups() error {
	l.sg.mu.Lock()
	defer l.sg.mu.Unlock()
	if !l.sg.on {
		return nil
	}
	enis := l.ec2.ENIs()
	groups := map[string]fakeec2.SecurityGroup{}
	var carried []fakeec2.ENI
	standard := l.standardBranches(enis)
	for _, e := range enis {
		if e.InterfaceType == "trunk" {
			continue // its branches carry the traffic, each with its groups
		}
		if extra, ok := standard[e.ID]; ok {
			e.SecurityGroups = append(slices.Clone(e.SecurityGroups), extra...)
		}
		carried = append(carried, e)
		for _, g := range e.SecurityGroups {
			if _, ok := groups[g]; !ok {
				groups[g], _ = l.ec2.SecurityGroup(g)
			}
		}
	}
	if err := writeSGTable(l.vpcPath, planSecurityGroups(carried, groups)); err != nil {
		return fmt.Errorf("node: security groups: %w", err)
	}
	return nil
}

// standardBranches maps each branch ENI on the trunk of a node running
// POD_SECURITY_GROUP_ENFORCING_MODE=standard to its trunk's groups (the
// node's): in standard mode both the node's and the branch's groups apply
// to the pod, so the filter allows what either allows.
func (l *Lab) standardBranches(enis []fakeec2.ENI) map[string][]string {
	byInstance := map[string]*Node{}
	for _, n := range l.Nodes() {
		byInstance[n.instanceID] = n
	}
	trunks := map[string]fakeec2.ENI{}
	for _, e := range enis {
		if e.InterfaceType == "trunk" {
			trunks[e.ID] = e
		}
	}
	out := map[string][]string{}
	for _, a := range l.ec2.TrunkAssociations() {
		t, ok := trunks[a.TrunkENI]
		n := byInstance[t.InstanceID]
		if ok && n != nil && n.podSGEnforcing() == datapath.EnforcingStandard {
			out[a.BranchENI] = t.SecurityGroups
		}
	}
	return out
}

// AuthorizeSecurityGroup adds one rule to a group through the EC2 API
// (AuthorizeSecurityGroupIngress, or …Egress when r.Egress).
func (l *Lab) AuthorizeSecurityGroup(ctx context.Context, groupID string, r fakeec2.SecurityGroupRule) error {
	perm := types.IpPermission{IpProtocol: aws.String(r.Protocol)}
	if r.Protocol != "-1" {
		perm.FromPort, perm.ToPort = aws.Int32(int32(r.FromPort)), aws.Int32(int32(r.ToPort))
	}
	if r.GroupID != "" {
		perm.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: aws.String(r.GroupID)}}
	} else {
		perm.IpRanges = []types.IpRange{{CidrIp: aws.String(r.CIDR.String())}}
	}
	api := l.resourceController().api
	var err error
	if r.Egress {
		_, err = api.AuthorizeSecurityGroupEgress(ctx, &ec2api.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(groupID), IpPermissions: []types.IpPermission{perm}})
	} else {
		_, err = api.AuthorizeSecurityGroupIngress(ctx, &ec2api.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(groupID), IpPermissions: []types.IpPermission{perm}})
	}
	if err != nil {
		return fmt.Errorf("node: security group %s: authorize: %w", groupID, err)
	}
	return l.syncSecurityGroups()
}

func isDuplicateRule(err error) bool {
	return err != nil && strings.Contains(err.Error(), "InvalidPermission.Duplicate")
}
