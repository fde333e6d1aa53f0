package ipamd

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/enilab/enilab/ipamd/datastore"
	"github.com/enilab/enilab/ipamd/pool"
)

// poolManager keeps the node's pool at its targets (upstream's
// StartNodeIPPoolManager): it grows the pool (grow.go), shrinks it
// (shrink.go), reconciles it with EC2 (reconcile.go) and deletes leaked
// ENIs (leaks.go), one job at a time on the goroutine New starts.
//
// Its own fields are touched only by that goroutine (and by New, through
// restore, before starting it), so they need no lock. Through the embedded
// *Daemon it reads what start-up fixed (config, clients, limits, identity)
// and the datastore, which has its own lock.
type poolManager struct {
	*Daemon

	unmanaged      map[string]bool         // ENI id → tagged no_manage: never touched
	subnetCIDRs    map[string]netip.Prefix // subnet id → CIDR
	lastDecrease   time.Time
	lastPoolAction time.Time            // last grow, shrink or reconcile (reconcile waits for quiet)
	lastSubnetErr  time.Time            // last subnet exhaustion (growth pauses SubnetPause)
	recentlyFreed  map[string]time.Time // CIDR or ENI id → when ipamd gave it back
	excluded       map[string]bool      // ENI id → in an excluded subnet: no pod addresses (subnets.go)
	leakScans      int                  // leak scans done (seeds the next one's delay)
	securityGroups []string             // the primary ENI's, sorted (securitygroups.go)

	// freedOnDel holds CIDRs the gRPC goroutine gave back on a DEL
	// (freeOtherModeOnRelease); updatePool moves them to recentlyFreed.
	freedOnDelMu sync.Mutex
	freedOnDel   map[string]time.Time
}

func newPoolManager(d *Daemon) *poolManager {
	return &poolManager{
		Daemon:    d,
		unmanaged: map[string]bool{}, excluded: map[string]bool{}, subnetCIDRs: map[string]netip.Prefix{}, recentlyFreed: map[string]time.Time{},
	}
}

// run is the pool manager's loop: pool checks, reconciles and leak scans,
// one at a time, until the Daemon's context ends. As upstream's
// StartNodeIPPoolManager, every pool check is followed by a reconcile,
// which runs only once the pool has been left alone for ReconcilePeriod: a
// separate reconcile ticker of that same period would find its own
// previous run exactly one period old and skip every other turn.
func (m *poolManager) run() {
	defer m.wg.Done()
	for {
		m.waiting.Store(true)
		select {
		case <-m.ctx.Done():
			m.waiting.Store(false)
			return
		case <-m.poolTick.C():
			m.waiting.Store(false)
			if m.v6 != nil {
				continue // IPv6 mode: no warm pool, nothing to reconcile
			}
			m.updatePool(m.ctx)
			m.reconcile(m.ctx)
		case <-m.leakTimer.C():
			m.waiting.Store(false)
			if !m.cfg.DisableLeakedENICleanup && m.v6 == nil { // upstream: no leak cleanup in IPv6 mode
				m.cleanLeakedENIs(m.ctx)
			}
			m.leakScans++
			m.leakTimer.Reset(m.nextLeakScan(m.leakScans))
		case <-m.cidrTick.C():
			m.waiting.Store(false)
			if m.v6 == nil {
				m.refreshVPCCIDRs(m.ctx)
			}
		case <-m.sgTick.C():
			m.waiting.Store(false)
			// As upstream, an error waits for the next period.
			if err := m.refreshSecurityGroups(m.ctx); err != nil {
				m.log.Debug("security group refresh failed", "err", err)
			}
		}
	}
}

// updatePool is one pool check (upstream's updateIPPoolIfRequired).
func (m *poolManager) updatePool(ctx context.Context) {
	defer m.updateGauges()
	m.takeFreedOnDel()
	m.retryUnusableENIs()
	now := m.clock.Now()
	st := m.store.Stats(now)
	switch {
	case pool.TooLow(m.params, st):
		m.logPoolTooLow(st)
		done := m.metrics.inProgress("increaseDatastorePool")
		_ = m.increase(ctx) // logged; the next pool check tries again
		done()
	case pool.TooHigh(m.params, st):
		m.logPoolTooHigh(st)
		if since := now.Sub(m.lastDecrease); !m.lastDecrease.IsZero() && since <= m.cfg.DecreaseGap {
			m.log.Debug(fmt.Sprintf("Skipping decrease Datastore pool because time since last %v <= %v", since, m.cfg.DecreaseGap))
		} else {
			done := m.metrics.inProgress("decreaseDatastorePool")
			m.decrease(ctx)
			done()
			m.lastDecrease, m.lastPoolAction = now, now
		}
	}
	now = m.clock.Now()
	st = m.store.Stats(now)
	if pool.ShouldRemoveExtraENIs(m.params, st, m.store.ENIs(now), now, m.cfg.ENIMinAge) {
		m.tryFreeENI(ctx)
	}
}

// logPoolTooLow logs as upstream's isDatastorePoolTooLow: a line only
// when no WARM_IP_TARGET/MINIMUM_IP_TARGET decides (their arithmetic
// logs nothing there), then the pool stats.
func (m *poolManager) logPoolTooLow(st datastore.Stats) {
	if _, _, ok := pool.TargetState(m.params, st); ok {
		return
	}
	warm, per := m.cfg.WarmENITarget, m.params.SlotsPerENI
	if m.cfg.EnablePrefixDelegation {
		warm, per = m.cfg.WarmPrefixTarget, pool.IPsPerPrefix
	}
	m.log.Debug(fmt.Sprintf("IP pool is too low for Network Card %d: available (%d) < ENI target (%d) * addrsPerENI (%d)", m.limits.DefaultNetworkCard, st.Available(), warm, per))
	m.logPoolStats(st)
}

// logPoolTooHigh is upstream's isDatastorePoolTooHigh line for
// WARM_PREFIX_TARGET.
func (m *poolManager) logPoolTooHigh(st datastore.Stats) {
	if _, _, ok := pool.TargetState(m.params, st); ok || !m.cfg.EnablePrefixDelegation {
		return
	}
	m.log.Debug(fmt.Sprintf("Prefix pool is high so might be able to deallocate - free prefixes: %d, warm prefix target: %d from NetworkCard %d", st.FreePrefixes, m.cfg.WarmPrefixTarget, m.limits.DefaultNetworkCard))
}

// logPoolStats is upstream's logPoolStats (DEBUG).
func (m *poolManager) logPoolStats(st datastore.Stats) {
	what := "IP pool stats for network card"
	if m.cfg.EnablePrefixDelegation {
		what = "Prefix pool stats for network card"
	}
	m.log.Debug(fmt.Sprintf("%s %d: Total IPs/Prefixes = %d/%d, AssignedIPs/CooldownIPs: %d/%d, c.maxIPsPerENI = %d",
		what, m.limits.DefaultNetworkCard, st.TotalIPs, st.Prefixes, st.AssignedIPs, st.CoolingIPs, m.params.MaxIPsPerENI()))
}

// retryUnusableENIs retries the node networking of ENIs whose set-up
// failed earlier.
func (m *poolManager) retryUnusableENIs() {
	for _, e := range m.store.ENIs(m.clock.Now()) {
		if e.Usable || e.Primary || m.excluded[e.ID] {
			continue
		}
		if err := m.setupENINetwork(e.MAC, e.PrimaryIP, e.SubnetCIDR, e.DeviceNumber); err == nil {
			m.store.SetUsable(e.ID, true)
			m.log.Info("ENI networking set up", "eni", e.ID)
		}
	}
}

// updateGauges refreshes every gauge; it reads m.unmanaged, so only the
// pool manager (its loop, or New before starting it) calls it.
func (m *poolManager) updateGauges() {
	m.updateStoreGauges()
	m.metrics.eniMax.Set(float64(m.maxENIs - len(m.unmanaged)))
	m.metrics.ipMax.Set(float64(m.params.MaxIPsPerENI() * (m.maxENIs - len(m.unmanaged))))
}
