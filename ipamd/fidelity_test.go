package ipamd

import (
	"fmt"
	"net/netip"
	"strings"
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

// logged reports whether the node logged msg at level, as slog's text
// handler writes it.
func (n *testNode) logged(level, msg string) bool {
	return strings.Contains(n.logs.String(), "level="+level+" msg=\""+msg)
}

// The lines an operator greps for, worded and levelled as upstream's
// (ipamd.go isDatastorePoolTooLow, increaseDatastorePool, tryAllocateENI,
// logPoolStats; awsutils.go AllocIPAddresses, createENI, freeENI).
func TestLogLinesAsUpstream(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m5.large"})
	n.start()
	n.addOK(10) // the second ENI is created at the first pod (WARM_ENI_TARGET=1)
	for level, msgs := range map[string][]string{
		"DEBUG": {
			"IP pool is too low for Network Card 0: available (0) < ENI target (1) * addrsPerENI (9)",
			"Starting to increase pool size for network card 0",
			"IP pool stats for network card 0: Total IPs/Prefixes = 9/0, AssignedIPs/CooldownIPs: 0/0, c.maxIPsPerENI = 9",
		},
		"INFO": {
			"Trying to allocate 9 IP addresses on ENI " + n.ec2PrimaryENI().ID,
			"Allocated 9 private IP addresses",
			"Trying to allocate 9 IP addresses on new ENI",
			"Creating ENI with security groups: [" + l.sg + "] in subnet: " + l.subnet.ID,
			"Created a new ENI: eni-",
			"Successfully created and attached a new ENI eni-",
		},
	} {
		for _, m := range msgs {
			assert.True(t, n.logged(level, m), "%s %q", level, m)
		}
	}
	l.until(time.Minute, "a third ENI keeps 9 addresses warm", func() bool { return n.d.Status().ENIs == 3 })
	for i := 1; i <= 10; i++ {
		_, err := n.del(fmt.Sprintf("pod-%d", i))
		require.NoError(t, err)
	}
	l.until(5*time.Minute, "a surplus ENI is freed", func() bool { return n.d.Status().ENIs == 2 })
	l.advance(3*time.Second, time.Second) // freeENI waits 2 s between detach and delete
	for _, m := range []string{"Trying to free ENI: eni-", "Successfully detached ENI: eni-", "Successfully deleted ENI: eni-", "Successfully freed ENI: eni-"} {
		assert.True(t, n.logged("INFO", m), "INFO %q", m)
	}
	assert.True(t, n.logged("DEBUG", "Start freeing ENI eni-"))
}
