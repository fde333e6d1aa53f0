package ipamd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/datastore"
)

// reconcileCooldown protects recent changes from lagging metadata: a CIDR
// ipamd gave back is not re-added, and one it just added is not removed,
// for this long (upstream's ipReconcileCooldown).
const reconcileCooldown = 60 * time.Second

// reconcile compares the datastore with IMDS and fixes what disagrees
// (upstream's nodeIPPoolReconcile). IMDS is read every time; EC2 only when
// IMDS shows an ENI the datastore lacks (DescribeNetworkInterfaces for its
// tags, upstream's DescribeAllENIs) or an ENI's addresses differ from the
// datastore's (upstream's GetIPv4sFromEC2 / GetIPv4PrefixesFromEC2), so an
// idle node makes no EC2 calls. It waits until neither the pool nor a
// reconcile has acted for ReconcilePeriod.
func (m *poolManager) reconcile(ctx context.Context) {
	now := m.clock.Now()
	if since := now.Sub(m.lastPoolAction); !m.lastPoolAction.IsZero() && since < m.cfg.ReconcilePeriod {
		return
	}
	defer m.metrics.inProgress("nodeIPPoolReconcile")()
	defer m.updateGauges()
	metas, err := m.imds.ENIs(ctx)
	if err != nil {
		m.log.Error("IP pool reconcile: Failed to get attached ENI info", "err", err)
		m.metrics.ipamdError("reconcileFailedGetENIs")
		return
	}
	if len(metas) == 0 {
		m.log.Error("IP pool reconcile: No ENI found at all in metadata, unable to reconcile")
		m.metrics.ipamdError("reconcileFailedGetENIs")
		return
	}
	current := map[string]datastore.ENIInfo{}
	for _, e := range m.store.ENIs(now) {
		current[e.ID] = e
	}
	attached := m.managedOnDefaultCard(metas)
	var described map[string]awsapi.ENI
	if anyUnknown(attached, current) {
		if described, err = m.describeAttached(ctx); err != nil {
			m.log.Warn("Failed to call EC2 to describe ENIs, aborting reconcile", "err", err)
			return
		}
		attached = m.managedOnDefaultCard(metas)
	}
	for _, meta := range attached {
		if info, known := current[meta.ID]; known {
			delete(current, meta.ID)
			m.eniIPPoolReconcile(ctx, meta, info, now)
			m.eniPrefixPoolReconcile(ctx, meta, info, now)
			continue
		}
		m.reconcileNewENI(ctx, meta, described, now)
	}
	m.sweepDetachedENIs(current, now)
	m.lastPoolAction = now
}

// managedOnDefaultCard keeps the ENIs ipamd manages (upstream's
// filterUnmanagedENIs) on the default network card.
func (m *poolManager) managedOnDefaultCard(metas []awsapi.ENIMeta) []awsapi.ENIMeta {
	var out []awsapi.ENIMeta
	for _, e := range metas {
		if e.NetworkCard == m.limits.DefaultNetworkCard && !m.unmanaged[e.ID] {
			out = append(out, e)
		}
	}
	return out
}

func anyUnknown(attached []awsapi.ENIMeta, current map[string]datastore.ENIInfo) bool {
	for _, e := range attached {
		if _, ok := current[e.ID]; !ok {
			return true
		}
	}
	return false
}

// describeAttached asks EC2 once for the instance's ENIs and learns which
// carry the no_manage tag (upstream's DescribeAllENIs and setUnmanagedENIs).
func (m *poolManager) describeAttached(ctx context.Context) (map[string]awsapi.ENI, error) {
	enis, err := m.ec2.AttachedENIs(ctx, m.identity.InstanceID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]awsapi.ENI, len(enis))
	for _, e := range enis {
		out[e.ID] = e
		if e.IsTrunk() {
			m.trunkFound(ctx, e)
		}
		if e.Tags[awsapi.TagNoManage] == "true" && e.DeviceIndex != 0 || e.IsTrunk() {
			m.unmanaged[e.ID] = true
		}
	}
	return out, nil
}

// reconcileNewENI adopts an ENI IMDS shows and the datastore lacks, with
// EC2's view of it ("Reconcile and add a new ENI").
func (m *poolManager) reconcileNewENI(ctx context.Context, meta awsapi.ENIMeta, described map[string]awsapi.ENI, now time.Time) {
	if at, freed := m.recentlyFreed[meta.ID]; freed && now.Sub(at) <= reconcileCooldown {
		return // ipamd is detaching it; IMDS lags
	}
	e, ok := described[meta.ID]
	if !ok {
		return // IMDS is ahead of DescribeNetworkInterfaces: next time
	}
	if err := m.tagManagedENI(ctx, e); err != nil {
		m.log.Error(fmt.Sprintf("IP pool reconcile: failed to tag managed ENI %v: %v", e.ID, err))
		m.metrics.ipamdError("eniReconcileAdd")
		return
	}
	m.log.Info("Reconcile and add a new ENI", "eni", e.ID)
	if err := m.adoptENI(ctx, e, now); err != nil {
		m.log.Error("IP pool reconcile: Failed to set up ENI network", "eni", e.ID, "err", err)
		m.metrics.ipamdError("eniReconcileAdd")
		return
	}
	m.ensureDeleteOnTermination(ctx, e)
	m.metrics.reconcile.WithLabelValues("eniReconcileAdd").Inc()
}

// sweepDetachedENIs drops the ENIs the datastore has and IMDS no longer
// shows ("Reconcile and delete detached ENI"), force: their addresses no
// longer work. An ENI added within reconcileCooldown is kept, since IMDS
// may not show it yet.
func (m *poolManager) sweepDetachedENIs(current map[string]datastore.ENIInfo, now time.Time) {
	for id, info := range current {
		if m.unmanaged[id] || now.Sub(info.AddedAt) <= reconcileCooldown {
			continue
		}
		dropped, err := m.store.RemoveENI(id, true, now)
		if err != nil && !errors.Is(err, datastore.ErrUnknownENI) {
			m.log.Error("IP pool reconcile: Failed to delete ENI during reconcile", "eni", id, "err", err)
			m.metrics.ipamdError("eniReconcileDel")
			continue
		}
		m.log.Warn("Reconcile and delete detached ENI", "eni", id, "podsLosingAddress", len(dropped))
		if len(dropped) > 0 {
			m.metrics.forceRemovedE.Inc()
			m.metrics.forceRemovedIP.Add(float64(len(dropped)))
		}
		m.metrics.reconcile.WithLabelValues("eniReconcileDel").Inc()
	}
}

// storeCIDRs returns the datastore's CIDRs of one size (32 or 28).
func storeCIDRs(info datastore.ENIInfo, bits int) map[netip.Prefix]datastore.CIDRInfo {
	out := map[netip.Prefix]datastore.CIDRInfo{}
	for _, c := range info.CIDRs {
		if c.Prefix.Bits() == bits {
			out[c.Prefix] = c
		}
	}
	return out
}

func sameSet(a []netip.Prefix, b map[netip.Prefix]datastore.CIDRInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for _, p := range a {
		if _, ok := b[p]; !ok {
			return false
		}
	}
	return true
}
