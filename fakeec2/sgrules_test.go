package fakeec2_test

import (
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (l *lab) newGroup(t *testing.T, name string) string {
	t.Helper()
	out, err := l.ec2.CreateSecurityGroup(l.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(name), VpcId: aws.String(l.vpc.ID)})
	require.NoError(t, err)
	return aws.ToString(out.GroupId)
}

func (l *lab) group(t *testing.T, id string) types.SecurityGroup {
	t.Helper()
	out, err := l.ec2.DescribeSecurityGroups(l.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	require.NoError(t, err)
	require.Len(t, out.SecurityGroups, 1)
	return out.SecurityGroups[0]
}

// The database story of security groups for pods: a "db" group admits
// TCP 5432 only from members of "db-client"; Describe shows the rules as
// EC2 groups them, filters find them, revoke removes them.
func TestSecurityGroupRules(t *testing.T) {
	l := newLab(t, "m5.large")
	db, client := l.newGroup(t, "db"), l.newGroup(t, "db-client")
	g := l.group(t, db)
	assert.Empty(t, g.IpPermissions, "a new group admits nothing")
	require.Len(t, g.IpPermissionsEgress, 1, "and allows all egress")
	assert.Equal(t, "-1", aws.ToString(g.IpPermissionsEgress[0].IpProtocol))
	assert.Equal(t, "0.0.0.0/0", aws.ToString(g.IpPermissionsEgress[0].IpRanges[0].CidrIp))

	perm := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432),
		UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(client), Description: aws.String("clients")}},
		IpRanges:         []types.IpRange{{CidrIp: aws.String("10.0.9.0/24")}}}
	out, err := l.ec2.AuthorizeSecurityGroupIngress(l.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(db), IpPermissions: []types.IpPermission{perm}})
	require.NoError(t, err)
	require.Len(t, out.SecurityGroupRules, 2, "one rule per peer")
	assert.Regexp(t, `^sgr-[0-9a-f]{17}$`, aws.ToString(out.SecurityGroupRules[0].SecurityGroupRuleId))

	g = l.group(t, db)
	require.Len(t, g.IpPermissions, 1, "one permission per protocol and port range")
	p := g.IpPermissions[0]
	assert.Equal(t, "tcp", aws.ToString(p.IpProtocol))
	assert.EqualValues(t, 5432, aws.ToInt32(p.FromPort))
	require.Len(t, p.UserIdGroupPairs, 1)
	assert.Equal(t, client, aws.ToString(p.UserIdGroupPairs[0].GroupId))
	assert.Equal(t, "clients", aws.ToString(p.UserIdGroupPairs[0].Description))
	require.Len(t, p.IpRanges, 1)

	_, err = l.ec2.AuthorizeSecurityGroupIngress(l.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(db), IpPermissions: []types.IpPermission{perm}})
	assert.Equal(t, "InvalidPermission.Duplicate", code(t, err))

	f, err := l.ec2.DescribeSecurityGroups(l.ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("ip-permission.group-id"), Values: []string{client}},
		{Name: aws.String("ip-permission.from-port"), Values: []string{"5432"}}}})
	require.NoError(t, err)
	require.Len(t, f.SecurityGroups, 1)
	assert.Equal(t, db, aws.ToString(f.SecurityGroups[0].GroupId))

	sg, ok := l.srv.SecurityGroup(db)
	require.True(t, ok)
	assert.Len(t, sg.Rules, 3, "two inbound, the default outbound")

	_, err = l.ec2.DeleteSecurityGroup(l.ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(client)})
	assert.Equal(t, "DependencyViolation", code(t, err), "db's rule refers to it")

	rev, err := l.ec2.RevokeSecurityGroupIngress(l.ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(db), IpPermissions: []types.IpPermission{perm}})
	require.NoError(t, err)
	assert.Len(t, rev.RevokedSecurityGroupRules, 2)
	assert.Empty(t, l.group(t, db).IpPermissions)
	rev, err = l.ec2.RevokeSecurityGroupIngress(l.ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(db), IpPermissions: []types.IpPermission{perm}})
	require.NoError(t, err)
	assert.Len(t, rev.UnknownIpPermissions, 2, "what matched nothing is named")
}

// EC2's refusals of rules, each with its code.
func TestSecurityGroupRuleErrors(t *testing.T) {
	l := newLab(t, "m5.large")
	db := l.newGroup(t, "db")
	ingress := func(p types.IpPermission) error {
		_, err := l.ec2.AuthorizeSecurityGroupIngress(l.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(db), IpPermissions: []types.IpPermission{p}})
		return err
	}
	cidr := []types.IpRange{{CidrIp: aws.String("10.0.0.0/16")}}
	for name, c := range map[string]struct {
		err  error
		code string
	}{
		"unknown protocol":  {ingress(types.IpPermission{IpProtocol: aws.String("sctpx"), IpRanges: cidr}), "InvalidParameterValue"},
		"tcp without ports": {ingress(types.IpPermission{IpProtocol: aws.String("tcp"), IpRanges: cidr}), "InvalidParameterValue"},
		"ports reversed":    {ingress(types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(90), ToPort: aws.Int32(80), IpRanges: cidr}), "InvalidParameterValue"},
		"unknown peer group": {ingress(types.IpPermission{IpProtocol: aws.String("-1"),
			UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String("sg-0123456789abcdef0")}}}), "InvalidGroup.NotFound"},
		"no peer": {ingress(types.IpPermission{IpProtocol: aws.String("-1")}), "MissingParameter"},
	} {
		t.Run(name, func(t *testing.T) { assert.Equal(t, c.code, code(t, c.err)) })
	}
	_, err := l.ec2.AuthorizeSecurityGroupIngress(l.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String("sg-0123456789abcdef0"), IpProtocol: aws.String("-1"), CidrIp: aws.String("10.0.0.0/8")})
	assert.Equal(t, "InvalidGroup.NotFound", code(t, err))
	_, err = l.ec2.RevokeSecurityGroupEgress(l.ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(db), SecurityGroupRuleIds: []string{"sgr-0123456789abcdef0"}})
	assert.Equal(t, "InvalidSecurityGroupRuleId.NotFound", code(t, err))

	// 60 inbound rules at most.
	var many []types.IpRange
	for i := range 61 {
		many = append(many, types.IpRange{CidrIp: aws.String("10.1." + strconv.Itoa(i) + ".0/24")})
	}
	assert.Equal(t, "RulesPerSecurityGroupLimitExceeded", code(t, ingress(types.IpPermission{IpProtocol: aws.String("-1"), IpRanges: many})))
	assert.Empty(t, l.group(t, db).IpPermissions, "a refused request adds nothing")
}
