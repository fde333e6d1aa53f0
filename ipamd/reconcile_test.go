package ipamd

import (
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Upstream's eniPrefixPoolReconcile: a /28 EC2 assigned behind ipamd's back
// shows in IMDS; the mismatch costs one DescribeNetworkInterfaces and the
// prefix joins the datastore (verifyAndAddPrefixesToDatastore).
func TestPrefixReconcileAddsWhatIMDSShows(t *testing.T) {
	calls := &callCounter{}
	l := newTestLab(t, withInterceptor(calls))
	n := l.newNode(nodeSpec{Type: "m5.large", Env: map[string]string{
		"ENABLE_PREFIX_DELEGATION": "true", "DISABLE_LEAKED_ENI_CLEANUP": "true"}})
	n.start()
	l.advance(2*time.Minute, 5*time.Second)
	require.Equal(t, 1, n.d.Status().Prefixes)
	primary := n.ec2PrimaryENI()
	out, err := newSDKClient(t, l.url).AssignPrivateIpAddresses(t.Context(), &ec2.AssignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(primary.ID), Ipv4PrefixCount: aws.Int32(1),
	})
	require.NoError(t, err)
	extra := netip.MustParsePrefix(aws.ToString(out.AssignedIpv4Prefixes[0].Ipv4Prefix))
	describes := calls.calls("DescribeNetworkInterfaces")
	l.until(2*time.Minute, "the reconcile adds the prefix", func() bool {
		for _, e := range n.d.store.ENIs(l.clk.Now()) {
			for _, c := range e.CIDRs {
				if c.Prefix == extra {
					return true
				}
			}
		}
		return false
	})
	assert.Contains(t, n.logs.String(), "Instance metadata does not match data store!")
	assert.Equal(t, describes+1, calls.calls("DescribeNetworkInterfaces"), "GetIPv4PrefixesFromEC2")
}
