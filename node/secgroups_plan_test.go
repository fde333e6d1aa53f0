package node

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/enilab/enilab/fakeec2"
)

// A rule naming a group allows that group's members' addresses (as EC2's
// UserIdGroupPairs); icmpv6 and IPv6 CIDRs have no place in the IPv4
// filter; ENIs without addresses are not filtered.
func TestPlanSecurityGroups(t *testing.T) {
	a := fakeec2.ENI{ID: "eni-a", PrimaryIP: netip.MustParseAddr("10.0.1.10"), SecondaryIPs: []netip.Addr{netip.MustParseAddr("10.0.1.11")}, SecurityGroups: []string{"sg-client"}}
	b := fakeec2.ENI{ID: "eni-b", PrimaryIP: netip.MustParseAddr("10.0.1.20"), Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.1.32/28")}, SecurityGroups: []string{"sg-db"}}
	none := fakeec2.ENI{ID: "eni-c", SecurityGroups: []string{"sg-db"}}
	groups := map[string]fakeec2.SecurityGroup{
		"sg-client": {ID: "sg-client", Rules: []fakeec2.SecurityGroupRule{{Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, CIDR: netip.MustParsePrefix("0.0.0.0/0")}}},
		"sg-db": {ID: "sg-db", Rules: []fakeec2.SecurityGroupRule{
			{Protocol: "tcp", FromPort: 5432, ToPort: 5432, GroupID: "sg-client"},
			{Protocol: "icmpv6", FromPort: -1, ToPort: -1, CIDR: netip.MustParsePrefix("::/0")},
		}},
	}
	plan := planSecurityGroups([]fakeec2.ENI{a, b, none}, groups)
	assert.Len(t, plan, 2)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.1.20/32"), netip.MustParsePrefix("10.0.1.32/28")}, plan[1].addrs)
	assert.Equal(t, []sgMatch{{proto: 6, from: 5432, to: 5432, peers: []netip.Prefix{netip.MustParsePrefix("10.0.1.10/32"), netip.MustParsePrefix("10.0.1.11/32")}}}, plan[1].in)
	assert.Empty(t, plan[1].out, "sg-db allows no egress")
	assert.Len(t, plan[0].out, 1)
}
