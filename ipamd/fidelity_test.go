package ipamd

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/ipamd/rpc"
)

func (n *testNode) ec2Prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, e := range n.ec2ENIs() {
		out = append(out, e.Prefixes...)
	}
	return out
}

func (n *testNode) ec2SecondaryIPs() []netip.Addr {
	var out []netip.Addr
	for _, e := range n.ec2ENIs() {
		out = append(out, e.SecondaryIPs...)
	}
	return out
}

func replyIP(t *testing.T, r *rpc.AddNetworkReply) netip.Addr {
	t.Helper()
	require.True(t, r.Success)
	return netip.MustParseAddr(r.IPAllocationMetadata[0].IPv4Addr)
}

// restartWith restarts the node's ipamd with one variable changed.
func (n *testNode) restartWith(k, v string) {
	n.stop()
	env := map[string]string{}
	for kk, vv := range n.env {
		env[kk] = vv
	}
	env[k] = v
	n.env = env
	n.start()
	n.lab.advance(10*time.Second, time.Second)
}

// Prefix → secondary-IP mode between restarts. Upstream: nodeInit gives
// back unused prefixes (tryUnassignPrefixesFromENIs); AssignPodIPv4Address
// hands out /32s only; DelNetwork, when the address came from a prefix,
// frees that ENI's unassigned prefixes at once (tryUnassignPrefixFromENI).
func TestModeSwitchPrefixToSecondaryIP(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m5.large", Env: map[string]string{"ENABLE_PREFIX_DELEGATION": "true"}})
	n.start()
	a, b := replyIP(t, n.addPod("a")), replyIP(t, n.addPod("b"))
	require.NotEmpty(t, n.ec2Prefixes())
	old := n.ec2Prefixes()[0]
	require.True(t, old.Contains(a) && old.Contains(b))

	n.restartWith("ENABLE_PREFIX_DELEGATION", "false")
	assert.Equal(t, []netip.Prefix{old}, n.ec2Prefixes(), "unused prefixes are given back at start-up; the one pods hold stays")
	c := replyIP(t, n.addPod("c"))
	assert.False(t, old.Contains(c), "a new pod gets a secondary IP, not an address of the old prefix")
	assert.Contains(t, n.ec2SecondaryIPs(), c)

	_, err := n.del("a")
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{old}, n.ec2Prefixes(), "b still holds an address of the prefix")
	_, err = n.del("b")
	require.NoError(t, err)
	assert.Empty(t, n.ec2Prefixes(), "the last pod's DEL gives the prefix back")
	l.advance(2*time.Minute, time.Second)
	assert.Empty(t, n.ec2Prefixes(), "the reconcile does not bring it back")
	assert.Equal(t, 0, n.d.Status().Prefixes)
}

// Secondary-IP → prefix mode between restarts. Upstream: nodeInit gives
// back unused /32s (tryUnassignIPsFromENIs); pods get addresses of /28s
// only. Upstream's DelNetwork branch meant to free an old /32 at once tests
// IsPrefix on a /32 entry and never fires, so the /32 stays after its pod
// leaves; enilab does the same.
func TestModeSwitchSecondaryIPToPrefix(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m5.large"})
	n.start()
	a := replyIP(t, n.addPod("a"))
	require.Empty(t, n.ec2Prefixes())

	n.restartWith("ENABLE_PREFIX_DELEGATION", "true")
	assert.Equal(t, []netip.Addr{a}, n.ec2SecondaryIPs(), "unused /32s are given back at start-up")
	require.NotEmpty(t, n.ec2Prefixes())
	c := replyIP(t, n.addPod("c"))
	assert.True(t, n.ec2Prefixes()[0].Contains(c), "a new pod gets an address of a /28")

	_, err := n.del("a")
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{a}, n.ec2SecondaryIPs(), "as upstream, the old /32 is not freed on DEL")
}

// Upstream's FindFreeableCidrs looks at assignment only: addresses whose
// pods just left are given back to EC2 while they still cool down (the
// cooldown, 30 s, only stops their reuse for a pod).
func TestReleaseWhileCooling_UpstreamFindFreeableCidrs(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m5.large", Env: map[string]string{"WARM_IP_TARGET": "1"}})
	n.start()
	n.addOK(5)
	l.advance(time.Minute, time.Second)
	require.Len(t, n.ec2SecondaryIPs(), 6)
	for _, p := range []string{"pod-1", "pod-2", "pod-3", "pod-4", "pod-5"} {
		_, err := n.del(p)
		require.NoError(t, err)
	}
	l.advance(6*time.Second, time.Second)
	require.Greater(t, n.d.Status().TotalIPs, 0)
	assert.Len(t, n.ec2SecondaryIPs(), 1, "given back within one pool check, all five still cooling")
}
