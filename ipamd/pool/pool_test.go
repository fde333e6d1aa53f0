package pool

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/enilab/enilab/ipamd/datastore"
)

func TestTargetStateFormulas(t *testing.T) {
	p := Params{WarmIPTarget: 5, MinimumIPTarget: 30, SlotsPerENI: 29}
	for _, c := range []struct{ total, assigned, short, over int }{
		{0, 0, 30, 0},
		{29, 0, 1, 0},
		{30, 0, 0, 0},  // min holds it: available 30 > 5 but total − MIN = 0
		{30, 25, 0, 0}, // 25 pods: exactly 5 warm
		{30, 30, 5, 0}, // 30 pods → grow to 35
		{35, 35, 5, 0}, // 35 pods → grow to 40
		{40, 20, 0, 10},
	} {
		short, over, ok := TargetState(p, datastore.Stats{TotalIPs: c.total, AssignedIPs: c.assigned})
		assert.True(t, ok)
		assert.Equal(t, c.short, short, "short at total %d assigned %d", c.total, c.assigned)
		assert.Equal(t, c.over, over, "over at total %d assigned %d", c.total, c.assigned)
	}
	_, _, ok := TargetState(Params{WarmENITarget: 1}, datastore.Stats{})
	assert.False(t, ok, "no IP targets: WARM_ENI_TARGET mode")
}

func TestTargetStateInPrefixes(t *testing.T) {
	p := Params{WarmIPTarget: 16, PrefixMode: true, SlotsPerENI: 9}
	// 1 pod, 1 prefix: 15 available, short 1 address = 1 prefix.
	short, _, _ := TargetState(p, datastore.Stats{TotalIPs: 16, AssignedIPs: 1, Prefixes: 1})
	assert.Equal(t, 1, short)
	// 3 prefixes, 1 pod, 2 free prefixes: needed ceil(17/16) = 2, so 1 over.
	_, over, _ := TargetState(p, datastore.Stats{TotalIPs: 48, AssignedIPs: 1, Prefixes: 3, FreePrefixes: 2})
	assert.Equal(t, 1, over)
}

func TestTooLowWarmENITarget(t *testing.T) {
	p := Params{WarmENITarget: 1, SlotsPerENI: 9, MaxPods: 29}
	assert.True(t, TooLow(p, datastore.Stats{TotalIPs: 0}))
	assert.False(t, TooLow(p, datastore.Stats{TotalIPs: 9}))
	assert.True(t, TooLow(p, datastore.Stats{TotalIPs: 9, AssignedIPs: 1}), "8 available < 1 × 9")
	assert.False(t, TooLow(p, datastore.Stats{TotalIPs: 29, AssignedIPs: 29}), "max pods reached")
	zero := Params{WarmENITarget: 0, SlotsPerENI: 9, MaxPods: 29}
	assert.False(t, TooLow(zero, datastore.Stats{TotalIPs: 9, AssignedIPs: 8}))
	assert.True(t, TooLow(zero, datastore.Stats{TotalIPs: 9, AssignedIPs: 9}), "WARM_ENI_TARGET=0 grows only when nothing is available")
}

func TestPrefixModeTargets(t *testing.T) {
	p := Params{WarmPrefixTarget: 1, PrefixMode: true, SlotsPerENI: 9, MaxPods: 110}
	assert.True(t, TooLow(p, datastore.Stats{}))
	assert.Equal(t, 1, PrefixesNeeded(p, datastore.Stats{}))
	assert.False(t, TooLow(p, datastore.Stats{TotalIPs: 16, Prefixes: 1, FreePrefixes: 1}))
	assert.True(t, TooLow(p, datastore.Stats{TotalIPs: 16, AssignedIPs: 1, Prefixes: 1}), "one pod on the only prefix")
	// Upstream isDatastorePoolTooLow compares available addresses with
	// WARM_PREFIX_TARGET × 16 (issue #12; this asserted True before).
	assert.False(t, TooLow(p, datastore.Stats{TotalIPs: 32, AssignedIPs: 2, Prefixes: 2}),
		"two partly used prefixes leave 30 available addresses ≥ 16 × WARM_PREFIX_TARGET")
	assert.False(t, TooLow(Params{PrefixMode: true, SlotsPerENI: 9}, datastore.Stats{TotalIPs: 16, AssignedIPs: 1, Prefixes: 1}),
		"WARM_PREFIX_TARGET=0 grows only when nothing is available")
	assert.True(t, TooHigh(p, datastore.Stats{TotalIPs: 48, Prefixes: 3, FreePrefixes: 3}))
	assert.Equal(t, 2, ToFree(p, datastore.Stats{TotalIPs: 48, Prefixes: 3, FreePrefixes: 3}))
	assert.Equal(t, 144, p.MaxIPsPerENI())
}

func TestNewENIResources(t *testing.T) {
	assert.Equal(t, 9, NewENIResources(Params{WarmENITarget: 1, SlotsPerENI: 9}, datastore.Stats{}))
	assert.Equal(t, 1, NewENIResources(Params{WarmIPTarget: 5, MinimumIPTarget: 30, SlotsPerENI: 29}, datastore.Stats{TotalIPs: 29}))
	assert.Equal(t, 1, NewENIResources(Params{WarmPrefixTarget: 1, PrefixMode: true, SlotsPerENI: 9}, datastore.Stats{}))
}

func TestDeletableENI(t *testing.T) {
	now := time.Unix(1000, 0)
	old := now.Add(-2 * time.Minute)
	primary := datastore.ENIInfo{ENI: datastore.ENI{ID: "eni-0", Primary: true, AddedAt: old}, IPs: 9, Assigned: 3}
	free := datastore.ENIInfo{ENI: datastore.ENI{ID: "eni-1", DeviceNumber: 1, AddedAt: old}, IPs: 9}
	young := datastore.ENIInfo{ENI: datastore.ENI{ID: "eni-2", DeviceNumber: 2, AddedAt: now}, IPs: 9}
	id, ok := DeletableENI(Params{WarmENITarget: 1, SlotsPerENI: 9}, []datastore.ENIInfo{primary, young, free}, now, time.Minute)
	assert.True(t, ok)
	assert.Equal(t, "eni-1", id)
	_, ok = DeletableENI(Params{WarmIPTarget: 10, SlotsPerENI: 9}, []datastore.ENIInfo{primary, free}, now, time.Minute)
	assert.False(t, ok, "the other ENIs have only 6 warm addresses, less than WARM_IP_TARGET")
	cooling := free
	cooling.Cooling = 1
	_, ok = DeletableENI(Params{WarmENITarget: 1, SlotsPerENI: 9}, []datastore.ENIInfo{primary, cooling}, now, time.Minute)
	assert.False(t, ok, "an ENI with a cooling address stays")
	pfx := datastore.ENIInfo{ENI: datastore.ENI{ID: "eni-3", DeviceNumber: 3, AddedAt: old}, IPs: 16,
		CIDRs: []datastore.CIDRInfo{{Prefix: netip.MustParsePrefix("10.0.0.16/28")}}}
	_, ok = DeletableENI(Params{WarmPrefixTarget: 1, PrefixMode: true, SlotsPerENI: 9}, []datastore.ENIInfo{primary, pfx}, now, time.Minute)
	assert.False(t, ok, "its prefix is the only free one, needed for WARM_PREFIX_TARGET")
}

// Figures of upstream's misc/eni-max-pods.txt (secondary-IP mode) and of the
// EKS max-pods calculator (prefix delegation: × 16, capped at 110 below 30
// vCPUs, 250 from 30 on).
func TestMaxPodsEniMaxPodsTxtAndCalculator(t *testing.T) {
	assert.Equal(t, 29, MaxPods(3, 10, 2, false, false), "m5.large, eni-max-pods.txt")
	assert.Equal(t, 20, MaxPods(3, 10, 2, true, false), "m5.large with custom networking")
	assert.Equal(t, 234, MaxPods(8, 30, 16, false, false), "m5.4xlarge, eni-max-pods.txt")
	assert.Equal(t, 234, MaxPods(8, 30, 32, false, false), "m5.8xlarge, eni-max-pods.txt: no cap without prefixes")
	assert.Equal(t, 4, MaxPods(2, 2, 2, false, false), "t3.nano, eni-max-pods.txt")
	assert.Equal(t, 110, MaxPods(3, 10, 2, false, true), "m5.large 2 vCPUs with prefixes: the 110 cap")
	assert.Equal(t, 250, MaxPods(8, 30, 32, false, true), "m5.8xlarge 32 vCPUs with prefixes: the 250 cap")
	assert.Equal(t, 110, MaxPods(8, 30, 29, false, true), "29 vCPUs: still the low cap")
	assert.Equal(t, 250, MaxPods(8, 30, 30, false, true), "30 vCPUs: the high cap")
	assert.Equal(t, 34, MaxPods(2, 2, 2, false, true), "t3.nano with prefixes: 2 × 1 × 16 + 2, under the cap")
	assert.Equal(t, 110, MaxPods(8, 30, 0, false, true), "unknown vCPUs: the low cap")
}

// WARM_ENI_TARGET releases only whole ENIs, and only once available ≥
// (WARM_ENI_TARGET + 1) × (ipv4_per_eni − 1); with IP targets every check
// looks (DeletableENI decides); in prefix mode a freeable ENI is enough.
func TestShouldRemoveExtraENIsThresholds(t *testing.T) {
	now := time.Unix(1000, 0)
	p := Params{WarmENITarget: 1, SlotsPerENI: 9}
	assert.False(t, TooHigh(p, datastore.Stats{TotalIPs: 27}), "WARM_ENI_TARGET never gives back single addresses")
	assert.False(t, ShouldRemoveExtraENIs(p, datastore.Stats{TotalIPs: 18, AssignedIPs: 1}, nil, now, time.Minute), "17 available < 2 × 9")
	assert.True(t, ShouldRemoveExtraENIs(p, datastore.Stats{TotalIPs: 18}, nil, now, time.Minute), "18 available ≥ 2 × 9")
	zero := Params{WarmENITarget: 0, SlotsPerENI: 9}
	assert.False(t, ShouldRemoveExtraENIs(zero, datastore.Stats{TotalIPs: 9, AssignedIPs: 1}, nil, now, time.Minute), "8 available < 1 × 9")
	assert.True(t, ShouldRemoveExtraENIs(zero, datastore.Stats{TotalIPs: 9}, nil, now, time.Minute))
	assert.True(t, ShouldRemoveExtraENIs(Params{WarmIPTarget: 5, SlotsPerENI: 9}, datastore.Stats{}, nil, now, time.Minute))

	pfx := Params{WarmPrefixTarget: 1, PrefixMode: true, SlotsPerENI: 9}
	old := now.Add(-2 * time.Minute)
	primary := datastore.ENIInfo{ENI: datastore.ENI{ID: "eni-0", Primary: true, AddedAt: old}, IPs: 16,
		CIDRs: []datastore.CIDRInfo{{Prefix: netip.MustParsePrefix("10.0.0.0/28")}}}
	spare := datastore.ENIInfo{ENI: datastore.ENI{ID: "eni-1", DeviceNumber: 1, AddedAt: old}, IPs: 16,
		CIDRs: []datastore.CIDRInfo{{Prefix: netip.MustParsePrefix("10.0.0.16/28")}}}
	st := datastore.Stats{TotalIPs: 32, Prefixes: 2, FreePrefixes: 2}
	assert.True(t, ShouldRemoveExtraENIs(pfx, st, []datastore.ENIInfo{primary, spare}, now, time.Minute),
		"32 available is far below 2 × 144, but the spare ENI's prefix is not needed for WARM_PREFIX_TARGET")
	assert.False(t, ShouldRemoveExtraENIs(pfx, datastore.Stats{TotalIPs: 16, Prefixes: 1, FreePrefixes: 1}, []datastore.ENIInfo{primary}, now, time.Minute))
}

// Upstream isDatastorePoolTooLow, getPrefixesNeeded and
// datastorePrefixTargetState (issue #12): with WARM_PREFIX_TARGET=1 the
// pool keeps at least 16 addresses available — 1 prefix idle, 2 from the
// 1st pod through the 16th, 3 from the 17th. Pods pack the lowest prefixes.
func TestPrefixGrowthKeepsSixteenAvailable(t *testing.T) {
	p := Params{WarmPrefixTarget: 1, PrefixMode: true, SlotsPerENI: 9, MaxPods: 110}
	settle := func(prefixes, pods int) int {
		for range 10 {
			st := datastore.Stats{TotalIPs: prefixes * IPsPerPrefix, AssignedIPs: pods, Prefixes: prefixes,
				FreePrefixes: prefixes - divCeil(pods, IPsPerPrefix)}
			if !TooLow(p, st) {
				return prefixes
			}
			prefixes += PrefixesNeeded(p, st)
		}
		t.Fatalf("pool of %d prefixes with %d pods never settles", prefixes, pods)
		return 0
	}
	prefixes := settle(0, 0)
	assert.Equal(t, 1, prefixes, "idle")
	for pods := 1; pods <= 17; pods++ {
		prefixes = settle(prefixes, pods)
		want := 2
		if pods == 17 {
			want = 3
		}
		assert.Equal(t, want, prefixes, "with %d pods", pods)
		assert.GreaterOrEqual(t, prefixes*IPsPerPrefix-pods, 16, "with %d pods", pods)
	}
	// Cooling addresses count as available: a prefix whose only addresses
	// cool down does not make the pool grow (upstream AvailableAddresses).
	assert.False(t, TooLow(p, datastore.Stats{TotalIPs: 16, CoolingIPs: 16, Prefixes: 1, FreePrefixes: 1}))
}
