// Package pool is the warm-pool arithmetic of the upstream VPC CNI's ipamd,
// kept free of I/O so every formula can be checked by hand: when the pool is
// too low or too high, how many addresses or prefixes to ask for, how many
// to give back, and which ENI may be freed. The daemon asks these questions
// on every pool check and acts on the answers.
package pool

import (
	"time"

	"github.com/enilab/enilab/ipamd/datastore"
)

// IPsPerPrefix is the number of addresses in a /28.
const IPsPerPrefix = datastore.IPsPerPrefix

// Params are the targets and limits the arithmetic works with.
type Params struct {
	WarmENITarget    int
	WarmIPTarget     int // 0 = unset
	MinimumIPTarget  int // 0 = unset
	WarmPrefixTarget int
	PrefixMode       bool
	// SlotsPerENI is what one ENI can hold besides its primary address:
	// ipv4_per_eni − 1 secondary addresses, or as many /28 prefixes.
	SlotsPerENI int
	// MaxPods stops growth once the pool holds this many addresses.
	MaxPods int
}

// IPTargets reports whether WARM_IP_TARGET or MINIMUM_IP_TARGET is set;
// they override WARM_ENI_TARGET and WARM_PREFIX_TARGET.
func (p Params) IPTargets() bool { return p.WarmIPTarget > 0 || p.MinimumIPTarget > 0 }

// MaxIPsPerENI is the addresses one ENI adds to the pool when full
// (upstream's maxIPsPerENI: slots, × 16 in prefix mode).
func (p Params) MaxIPsPerENI() int {
	if p.PrefixMode {
		return p.SlotsPerENI * IPsPerPrefix
	}
	return p.SlotsPerENI
}

func divCeil(x, y int) int { return (x + y - 1) / y }

// TargetState is upstream's datastoreTargetState: with IP targets set,
// how many addresses the pool is short of and over them —
// short = max(WARM − available, MIN − total, 0),
// over = max(min(available − WARM, total − MIN), 0) — converted to /28
// prefixes in prefix mode. ok is false when no IP target is set.
func TargetState(p Params, st datastore.Stats) (short, over int, ok bool) {
	if !p.IPTargets() {
		return 0, 0, false
	}
	available := st.Available()
	short = max(p.WarmIPTarget-available, 0)
	short = max(short, p.MinimumIPTarget-st.TotalIPs)
	over = max(available-p.WarmIPTarget, 0)
	over = max(min(over, st.TotalIPs-p.MinimumIPTarget), 0)
	if !p.PrefixMode {
		return short, over, true
	}
	shortPrefixes := divCeil(short, IPsPerPrefix)
	neededForWarm := divCeil(st.AssignedIPs+p.WarmIPTarget, IPsPerPrefix)
	neededForMin := divCeil(p.MinimumIPTarget, IPsPerPrefix)
	overPrefixes := max(min(st.FreePrefixes, st.Prefixes-neededForWarm), 0)
	overPrefixes = max(min(overPrefixes, st.Prefixes-neededForMin), 0)
	return shortPrefixes, overPrefixes, true
}

// PrefixShort is how many free prefixes (nothing assigned) the pool lacks
// for WARM_PREFIX_TARGET, prefix mode only (upstream's
// datastorePrefixTargetState).
func PrefixShort(p Params, st datastore.Stats) int {
	return max(p.WarmPrefixTarget-st.FreePrefixes, 0)
}

// TooLow says whether the pool must grow (upstream's
// isDatastorePoolTooLow). Never when the pool already holds max pods
// addresses; with IP targets when short > 0; otherwise when available <
// target × addresses per unit: WARM_PREFIX_TARGET × 16 in prefix mode
// (cooling addresses count as available), WARM_ENI_TARGET × slots per ENI
// in secondary-IP mode. A zero target grows only when nothing is available.
func TooLow(p Params, st datastore.Stats) bool {
	if p.MaxPods > 0 && st.TotalIPs >= p.MaxPods {
		return false
	}
	if short, _, ok := TargetState(p, st); ok {
		return short > 0
	}
	warm, per := p.WarmENITarget, p.SlotsPerENI
	if p.PrefixMode {
		warm, per = p.WarmPrefixTarget, IPsPerPrefix
	}
	available := st.Available()
	return available < warm*per || (warm == 0 && available == 0)
}

// TooHigh is upstream's isDatastorePoolTooHigh: with IP targets when over >
// 0; in prefix mode when free prefixes exceed WARM_PREFIX_TARGET; never in
// WARM_ENI_TARGET mode (whole ENIs are freed instead).
func TooHigh(p Params, st datastore.Stats) bool {
	if _, over, ok := TargetState(p, st); ok {
		return over > 0
	}
	if p.PrefixMode {
		return st.FreePrefixes > p.WarmPrefixTarget
	}
	return false
}

// ToFree is how many CIDRs (addresses, or prefixes in prefix mode) a
// decrease gives back (upstream's tryUnassignCidrsFromAll).
func ToFree(p Params, st datastore.Stats) int {
	if _, over, ok := TargetState(p, st); ok {
		return over
	}
	if p.PrefixMode {
		return max(st.FreePrefixes-p.WarmPrefixTarget, 0)
	}
	return 0
}

// IPsToAssign is how many secondary addresses to ask for on an existing ENI
// that holds have of them (secondary-IP mode): fill it, or just the
// shortfall when IP targets are set.
func IPsToAssign(p Params, st datastore.Stats, have int) int {
	want := p.SlotsPerENI
	if short, _, ok := TargetState(p, st); ok {
		want = short
	}
	return max(min(p.SlotsPerENI-have, want), 0)
}

// PrefixesNeeded is upstream's getPrefixesNeeded: at least one; the IP
// targets' shortfall in prefixes when set, else WARM_PREFIX_TARGET's.
func PrefixesNeeded(p Params, st datastore.Stats) int {
	if short, _, ok := TargetState(p, st); ok {
		return max(1, short)
	}
	return max(1, PrefixShort(p, st))
}

// NewENIResources is how many addresses (or prefixes) a new ENI is created
// with (upstream's GetENIResourcesToAllocate).
func NewENIResources(p Params, st datastore.Stats) int {
	if p.PrefixMode {
		return min(PrefixesNeeded(p, st), p.SlotsPerENI)
	}
	if short, _, ok := TargetState(p, st); ok {
		return min(short, p.SlotsPerENI)
	}
	return p.SlotsPerENI
}

// ShouldRemoveExtraENIs is upstream's shouldRemoveExtraENIs: always worth a
// look with IP targets (DeletableENI decides); otherwise when available ≥
// (target + 1) × the addresses of a full ENI, or in prefix mode when a
// freeable ENI exists.
func ShouldRemoveExtraENIs(p Params, st datastore.Stats, enis []datastore.ENIInfo, now time.Time, minAge time.Duration) bool {
	if p.IPTargets() {
		return true
	}
	warm := p.WarmENITarget + 1
	if p.PrefixMode {
		warm = p.WarmPrefixTarget + 1
	}
	if st.Available() >= warm*p.MaxIPsPerENI() {
		return true
	}
	if p.PrefixMode {
		_, ok := DeletableENI(p, enis, now, minAge)
		return ok
	}
	return false
}

// DeletableENI is upstream's getDeletableENI: the first secondary ENI, in
// device order, that is old enough, has no address assigned or cooling,
// and is not needed for WARM_IP_TARGET, MINIMUM_IP_TARGET or
// WARM_PREFIX_TARGET. ENIs marked unusable are never chosen here.
func DeletableENI(p Params, enis []datastore.ENIInfo, now time.Time, minAge time.Duration) (string, bool) {
	for i, e := range enis {
		if e.Primary || now.Sub(e.AddedAt) < minAge || e.Cooling > 0 || e.Assigned > 0 {
			continue
		}
		var otherWarm, otherIPs, otherFreePrefixes int
		for j, o := range enis {
			if j == i {
				continue
			}
			otherWarm += o.IPs - o.Assigned
			otherIPs += o.IPs
			for _, c := range o.CIDRs {
				if c.Prefix.Bits() == 28 && c.Assigned == 0 {
					otherFreePrefixes++
				}
			}
		}
		if p.WarmIPTarget > 0 && otherWarm < p.WarmIPTarget {
			continue
		}
		if p.MinimumIPTarget > 0 {
			min := p.MinimumIPTarget
			if p.PrefixMode {
				min = divCeil(min, IPsPerPrefix) * IPsPerPrefix
			}
			if otherIPs < min {
				continue
			}
		}
		if p.PrefixMode && otherFreePrefixes < p.WarmPrefixTarget {
			continue
		}
		return e.ID, true
	}
	return "", false
}

// Max-pods ceilings of the EKS max-pods calculator in prefix mode: below
// vCPUsForHighCeiling vCPUs a node gets at most lowCPUMaxPods, from it on
// highCPUMaxPods (the calculator's MAX_POD_CEILING_FOR_LOW_CPU/HIGH_CPU).
const (
	lowCPUMaxPods       = 110
	highCPUMaxPods      = 250
	vCPUsForHighCeiling = 30
	addressesPerPrefix  = 16
)

// MaxPods is the node's max pods as EKS computes it (upstream's
// misc/eni-max-pods.txt and the max-pods calculator): max_enis ×
// (ipv4_per_eni − 1) + 2, one ENI fewer with custom networking (the primary
// serves no pods). In prefix mode each slot is a /28 (× 16) and the result is
// capped at 110 below 30 vCPUs, 250 from 30 on; vcpus 0 (unknown) takes the
// lower cap.
func MaxPods(maxENIs, ipv4PerENI, vcpus int, customNetworking, prefixMode bool) int {
	enis := maxENIs
	if customNetworking {
		enis--
	}
	slots := max(enis, 0) * max(ipv4PerENI-1, 0)
	if !prefixMode {
		return slots + 2
	}
	ceiling := lowCPUMaxPods
	if vcpus >= vCPUsForHighCeiling {
		ceiling = highCPUMaxPods
	}
	return min(slots*addressesPerPrefix+2, ceiling)
}
