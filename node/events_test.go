package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The lines of ipamd's log that are events keep upstream's wording (ipamd's
// increaseDatastorePool/tryAllocateENI/tryUnassignIPsFromENI/
// isDatastorePoolTooLow messages): each is classified by its start.
func TestClassifyIPAMDLogLines(t *testing.T) {
	for msg, want := range map[string]eventKind{
		"Successfully created and attached a new ENI eni-0a to instance on network card 0":        lifecycle,
		"Allocated 9 private IP addresses":                                                        lifecycle,
		"Allocated 1 private IP prefixes":                                                         lifecycle,
		"Trying to unassign the following IPs [10.0.1.5] from ENI eni-0a":                         lifecycle,
		"Successfully detached ENI: eni-0a":                                                       lifecycle,
		"Successfully deleted ENI: eni-0a":                                                        lifecycle,
		"EC2 API call throttled":                                                                  throttle,
		"IP pool is too low for Network Card 0: available (0) < ENI target (1) * addrsPerENI (9)": decision,
		"Starting to increase pool size for network card 0":                                       decision,
		"Skipping ENI allocation as the max ENI limit is already reached":                         decision,
		"ENI networking set up":                                                                   notAnEvent,
		"Trying to allocate 9 IP addresses on ENI eni-0a":                                         notAnEvent,
	} {
		assert.Equal(t, want, classify(msg), msg)
	}
}

// A node's history shows, as they happen and in ipamd's words, the ENI it
// attached and the addresses it allocated and released, and (as details
// shown only with --verbose) the pool decisions behind them.
func TestENIAndAddressChangesAreEvents(t *testing.T) {
	needRoot(t)
	prefix := testPrefix(t, "evt")
	require.NoError(t, Sweep(prefix))
	l, err := NewLab(context.Background(), LabConfig{Prefix: prefix, Seed: 3, TimeScale: 0.02,
		Subnets: []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"}}})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "c5.large",
		IPAMDEnv: map[string]string{"WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "2", "WARM_ENI_TARGET": "0"}})
	require.NoError(t, err)
	// Eleven pods need a second ENI (c5.large: 10 addresses per ENI, 9 for pods).
	require.NoError(t, n.AddPods(context.Background(), 11))
	require.Eventually(t, func() bool { return n.Status().ReadyPods == 11 }, 60*time.Second, 20*time.Millisecond)
	require.NoError(t, n.DeletePods(context.Background(), 11))

	has := func(sub string, detail bool) bool {
		for _, e := range n.IPAMDStatus().Events {
			if strings.Contains(e.Message, sub) && e.Detail == detail {
				return true
			}
		}
		return false
	}
	for _, want := range []struct {
		sub    string
		detail bool
	}{
		{"ipamd: Successfully created and attached a new ENI eni-", false},
		{"ipamd: Allocated ", false},
		{"ipamd: Trying to unassign the following IPs", false},
		{"ipamd: Starting to increase pool size", true},
	} {
		assert.Eventually(t, func() bool { return has(want.sub, want.detail) }, 60*time.Second, 20*time.Millisecond, "an event %q (detail %v)", want.sub, want.detail)
	}
}
