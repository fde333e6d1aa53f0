package ipamd

import (
	"context"
	"net/netip"
	"time"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/datastore"
	"github.com/enilab/enilab/ipamd/pool"
)

// decrease gives back surplus addresses or prefixes (upstream's
// tryUnassignCidrsFromAll), highest device first so that secondary ENIs
// empty out and can be freed.
func (m *poolManager) decrease(ctx context.Context) {
	now := m.clock.Now()
	over := pool.ToFree(m.params, m.store.Stats(now))
	if over <= 0 {
		return
	}
	enis := m.store.ENIs(now)
	for i := len(enis) - 1; i >= 0 && over > 0; i-- {
		e := enis[i]
		cidrs := m.store.FreeableCIDRs(e.ID, now)
		if len(cidrs) > over {
			cidrs = cidrs[:over]
		}
		var ips []netip.Addr
		var prefixes []netip.Prefix
		for _, c := range cidrs {
			if _, err := m.store.RemoveCIDR(e.ID, c, false, now); err != nil {
				m.log.Warn("cannot remove CIDR from datastore", "eni", e.ID, "cidr", c, "err", err)
				m.metrics.ipamdError("decreaseIPPool")
				continue
			}
			m.recentlyFreed[c.String()] = now
			if c.Bits() == 32 {
				ips = append(ips, c.Addr())
			} else {
				prefixes = append(prefixes, c)
			}
		}
		if len(ips)+len(prefixes) == 0 {
			continue
		}
		over -= len(ips) + len(prefixes)
		if err := m.ec2.Unassign(ctx, e.ID, ips, prefixes); err != nil {
			m.log.Warn("Failed to free IPs/Prefixes from ENI; the reconcile will re-add what EC2 still has", "eni", e.ID, "err", err)
		} else {
			m.log.Info("decreased pool", "eni", e.ID, "ips", len(ips), "prefixes", len(prefixes))
		}
	}
}

// tryFreeENI frees one surplus ENI (upstream's tryFreeENI + FreeENI).
func (m *poolManager) tryFreeENI(ctx context.Context) {
	now := m.clock.Now()
	id, ok := pool.DeletableENI(m.params, m.store.ENIs(now), now, m.cfg.ENIMinAge)
	if !ok {
		return
	}
	info, _ := m.store.ENI(id, now)
	if _, err := m.store.RemoveENI(id, false, now); err != nil {
		m.log.Warn("cannot remove ENI from datastore", "eni", id, "err", err)
		return
	}
	m.recentlyFreed[id] = now
	m.log.Info("freeing surplus ENI", "eni", id, "device", info.DeviceNumber)
	m.teardownENINetwork(info.ENI)
	if err := m.freeENI(ctx, id); err != nil {
		m.metrics.ipamdError("decreaseIPPoolFreeENIFailed")
		m.log.Error("Failed to free ENI", "eni", id, "err", err)
	}
	m.lastPoolAction = m.clock.Now()
}

// freeENI detaches and deletes an ENI, retrying the delete while EC2 still
// reports it in use.
func (m *poolManager) freeENI(ctx context.Context, id string) error {
	e, err := m.ec2.DescribeENI(ctx, id)
	if awsapi.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if e.AttachmentID != "" {
		if err := m.ec2.DetachENI(ctx, e.AttachmentID); err != nil && !awsapi.IsNotFound(err) {
			return err
		}
	}
	wait := time.Second
	for attempt := 1; ; attempt++ {
		err = m.ec2.DeleteENI(ctx, id)
		if err == nil || awsapi.Code(err) != "InvalidNetworkInterface.InUse" || attempt >= 6 {
			return err
		}
		if serr := clock.Sleep(ctx, m.sleep, wait); serr != nil {
			return serr
		}
		wait *= 2
	}
}

// freeOtherModeOnRelease is upstream's DelNetwork clean-up after a switch
// from prefix to secondary-IP mode: when the released address came from a
// /28, every /28 of that ENI with nothing assigned is given back to EC2
// at once (tryUnassignPrefixFromENI). It runs on the gRPC goroutine, as
// upstream's does. Upstream's branch for the other direction (an old /32
// in prefix mode) tests a /32 entry for IsPrefix and so never fires; old
// /32s stay until a restart (tryUnassignIPsFromENIs) or the pool shrinks,
// and enilab does the same.
func (m *poolManager) freeOtherModeOnRelease(ctx context.Context, a datastore.Assignment) {
	if m.cfg.EnablePrefixDelegation || a.CIDR.Bits() != 28 {
		return
	}
	m.log.Debug("IP belongs to prefix pool with PD disabled so try free prefix from EC2")
	now := m.clock.Now()
	var freed []netip.Prefix
	for _, p := range m.store.FreeablePrefixes(a.ENIID, now) {
		m.noteFreedOnDel(p.String(), now)
		if _, err := m.store.RemoveCIDR(a.ENIID, p, false, now); err != nil {
			m.log.Warn("Failed to delete Prefix "+p.String()+" on ENI "+a.ENIID+" from datastore", "err", err)
			m.metrics.ipamdError("decreaseIPPool")
			continue
		}
		freed = append(freed, p)
	}
	if len(freed) == 0 {
		return
	}
	if err := m.ec2.Unassign(ctx, a.ENIID, nil, freed); err != nil {
		m.log.Warn("Failed to remove Prefixes from ENI "+a.ENIID, "prefixes", freed, "err", err)
		return
	}
	m.log.Debug("Successfully removed Prefixes from ENI "+a.ENIID, "prefixes", freed)
}

func (m *poolManager) noteFreedOnDel(id string, at time.Time) {
	m.freedOnDelMu.Lock()
	defer m.freedOnDelMu.Unlock()
	if m.freedOnDel == nil {
		m.freedOnDel = map[string]time.Time{}
	}
	m.freedOnDel[id] = at
}

// takeFreedOnDel moves what DELs gave back into recentlyFreed, so that the
// reconcile does not re-add it from a stale IMDS.
func (m *poolManager) takeFreedOnDel() {
	m.freedOnDelMu.Lock()
	defer m.freedOnDelMu.Unlock()
	for id, at := range m.freedOnDel {
		m.recentlyFreed[id] = at
	}
	clear(m.freedOnDel)
}
