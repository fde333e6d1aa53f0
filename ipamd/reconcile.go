package ipamd

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/datastore"
)

// reconcileCooldown protects recent changes from a lagging
// DescribeNetworkInterfaces: a CIDR ipamd gave back is not re-added, and one
// it just added is not removed, for this long (upstream's ipReconcileCooldown).
const reconcileCooldown = 60 * time.Second

// reconcile compares the datastore with EC2 and fixes what disagrees
// (upstream's nodeIPPoolReconcile, with DescribeNetworkInterfaces as truth).
// It waits until neither the pool nor a reconcile has acted for
// ReconcilePeriod, so it never races a change EC2 may not show yet and
// runs every ReconcilePeriod on a quiet node.
func (m *poolManager) reconcile(ctx context.Context) {
	now := m.clock.Now()
	if since := now.Sub(m.lastPoolAction); !m.lastPoolAction.IsZero() && since < m.cfg.ReconcilePeriod {
		return
	}
	defer m.updateGauges()
	enis, err := m.ec2.AttachedENIs(ctx, m.identity.InstanceID)
	if err != nil {
		m.log.Error("IP pool reconcile: Failed to get attached ENI info", "err", err)
		m.metrics.ipamdError("reconcileFailedGetENIs")
		return
	}
	for id, at := range m.recentlyFreed {
		if now.Sub(at) > reconcileCooldown {
			delete(m.recentlyFreed, id)
		}
	}
	current := map[string]datastore.ENIInfo{}
	for _, e := range m.store.ENIs(now) {
		current[e.ID] = e
	}
	for _, e := range enis {
		if e.NetworkCard != m.limits.DefaultNetworkCard || m.unmanaged[e.ID] {
			continue
		}
		info, known := current[e.ID]
		delete(current, e.ID)
		if !known {
			if _, freed := m.recentlyFreed[e.ID]; freed {
				continue
			}
			if e.Tags[awsapi.TagNoManage] == "true" && e.DeviceIndex != 0 {
				m.unmanaged[e.ID] = true
				continue
			}
			m.log.Info("Reconcile and add a new ENI", "eni", e.ID)
			m.tagManagedENI(ctx, e)
			if err := m.adoptENI(ctx, e, now); err != nil {
				m.log.Error("IP pool reconcile: Failed to set up ENI", "eni", e.ID, "err", err)
				m.metrics.ipamdError("eniReconcileAdd")
			}
			m.ensureDeleteOnTermination(ctx, e)
			m.metrics.reconcile.WithLabelValues("eniReconcileAdd").Inc()
			continue
		}
		m.reconcileCIDRs(e, info, now)
	}
	for id, info := range current {
		if now.Sub(info.AddedAt) <= reconcileCooldown {
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
	m.lastPoolAction = now
}

func (m *poolManager) reconcileCIDRs(e awsapi.ENI, info datastore.ENIInfo, now time.Time) {
	inEC2 := map[netip.Prefix]bool{}
	for _, ip := range e.SecondaryIPs {
		inEC2[netip.PrefixFrom(ip, 32)] = true
	}
	for _, p := range e.Prefixes {
		inEC2[p] = true
	}
	inStore := map[netip.Prefix]datastore.CIDRInfo{}
	for _, c := range info.CIDRs {
		inStore[c.Prefix] = c
	}
	for c := range inEC2 {
		if _, ok := inStore[c]; ok {
			continue
		}
		if at, ok := m.recentlyFreed[c.String()]; ok && now.Sub(at) <= reconcileCooldown {
			continue
		}
		m.store.AddCIDR(e.ID, c, now)
		m.metrics.reconcile.WithLabelValues("eniDataStorePoolReconcileAdd").Inc()
		m.log.Info("Reconcile: adding address EC2 has and the datastore lacked", "eni", e.ID, "cidr", c)
	}
	for c, ci := range inStore {
		if inEC2[c] || now.Sub(ci.AddedAt) <= reconcileCooldown {
			continue
		}
		dropped, err := m.store.RemoveCIDR(e.ID, c, true, now)
		if err != nil {
			m.log.Error("Failed to reconcile and delete IP", "eni", e.ID, "cidr", c, "err", err)
			m.metrics.ipamdError("ipReconcileDel")
			continue
		}
		if len(dropped) > 0 {
			m.metrics.forceRemovedIP.Add(float64(len(dropped)))
		}
		m.log.Warn("Reconcile and delete IP EC2 no longer has", "eni", e.ID, "cidr", c, "podsLosingAddress", len(dropped))
		m.metrics.reconcile.WithLabelValues("eniIPPoolReconcileDel").Inc()
	}
}
