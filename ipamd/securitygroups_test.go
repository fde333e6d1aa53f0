package ipamd

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
)

// sgCalls counts ModifyNetworkInterfaceAttribute calls that set groups.
type sgCalls struct {
	callCounter
	byENI map[string]int
}

func (c *sgCalls) After(call fakeec2.Call, v fakeec2.Verdict, out fakeec2.Outcome) {
	c.callCounter.After(call, v, out)
	if call.Action == "ModifyNetworkInterfaceAttribute" && call.Params.Get("SecurityGroupId.1") != "" {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.byENI == nil {
			c.byENI = map[string]int{}
		}
		c.byENI[call.Params.Get("NetworkInterfaceId")]++
	}
}

func (c *sgCalls) updates() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.byENI {
		out[k] = v
	}
	return out
}

// Upstream's RefreshSGIDs: ipamd's cache of the primary ENI's groups starts
// empty, so nodeInit finds the groups "added" and gives them to every
// managed ENI (one ModifyNetworkInterfaceAttribute each, the primary
// included). Every 30 s after, a change to the primary ENI's groups (an
// operator's modify-network-interface-attribute) is logged and given to
// every managed ENI, and ENIs created after it carry the new groups.
func TestSecurityGroupsFollowThePrimaryENIAsRefreshSGIDs(t *testing.T) {
	calls := &sgCalls{}
	l := newTestLab(t, withInterceptor(calls))
	n := l.newNode(nodeSpec{Type: "c5.large"})
	n.start()
	primary := n.ec2PrimaryENI()
	assert.Contains(t, n.logs.String(), "Found primary SG "+l.sg+", added to ipamd cache")
	assert.Equal(t, map[string]int{primary.ID: 1}, calls.updates(), "start-up updates the managed ENIs once")

	n.addOK(5) // past the warm target: a second ENI
	l.until(time.Minute, "a second ENI", func() bool { return n.d.Status().ENIs == 2 })
	l.advance(2*time.Minute, time.Second)
	assert.Equal(t, map[string]int{primary.ID: 1}, calls.updates(), "no change, no update")

	other, err := l.ec2.CreateSecurityGroup("pods-extra", l.vpc.ID)
	require.NoError(t, err)
	groups := []string{other, l.sg}
	_, err = newSDKClient(t, l.url).ModifyNetworkInterfaceAttribute(t.Context(), &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(primary.ID), Groups: groups,
	})
	require.NoError(t, err)
	l.until(31*time.Second, "every managed ENI has the primary's new groups", func() bool {
		for _, e := range n.ec2ENIs() {
			if !sameGroups(e.SecurityGroups, groups) {
				return false
			}
		}
		return true
	})
	assert.Contains(t, n.logs.String(), "Found primary SG "+other+", added to ipamd cache")
	assert.Len(t, calls.updates(), 2)

	_, err = newSDKClient(t, l.url).ModifyNetworkInterfaceAttribute(t.Context(), &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(primary.ID), Groups: []string{other},
	})
	require.NoError(t, err)
	l.until(31*time.Second, "the removal reaches ipamd", func() bool {
		return strings.Contains(n.logs.String(), "Removed primary SG "+l.sg+" from ipamd cache")
	})
	n.addOK(12) // a third ENI
	l.until(time.Minute, "a third ENI", func() bool { return n.d.Status().ENIs == 3 })
	for _, e := range n.ec2ENIs() {
		assert.Equal(t, []string{other}, e.SecurityGroups, "%s", e.ID)
	}
}

func sameGroups(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// With custom networking the ENIs take their groups from the ENIConfig:
// RefreshSGIDs fills its cache but updates no ENI.
func TestSecurityGroupRefreshLeavesCustomNetworkingENIs(t *testing.T) {
	calls := &sgCalls{}
	l := newTestLab(t, withInterceptor(calls))
	n, _, podSG := customNetworkingNode(t, l)
	n.start()
	l.advance(45*time.Second, time.Second)
	assert.Contains(t, n.logs.String(), "Found primary SG "+l.sg+", added to ipamd cache")
	assert.Empty(t, calls.updates())
	enis := n.ec2ENIs()
	require.Len(t, enis, 2)
	assert.Equal(t, []string{podSG}, enis[1].SecurityGroups, "the ENIConfig's groups")
}
