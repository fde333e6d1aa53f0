package ipamd

import (
	"context"
	"fmt"
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
	m.log.Debug(fmt.Sprintf("Starting to decrease pool size for network card %d", m.limits.DefaultNetworkCard))
	defer func() {
		m.log.Debug("Successfully decreased IP pool")
		m.logPoolStats(m.store.Stats(m.clock.Now()))
	}()
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
				m.log.Warn(fmt.Sprintf("Failed to delete Cidr %s on ENI %s from datastore for network card %d: %s", c, e.ID, m.limits.DefaultNetworkCard, err))
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
		m.deallocCIDRs(ctx, e.ID, ips, prefixes)
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
	m.log.Debug(fmt.Sprintf("Start freeing ENI %s from network card %d", id, m.limits.DefaultNetworkCard))
	m.teardownENINetwork(info.ENI)
	if err := m.freeENI(ctx, id); err != nil {
		m.metrics.ipamdError("decreaseIPPoolFreeENIFailed")
		m.log.Error(fmt.Sprintf("Failed to free ENI %s, err: %v", id, err))
	}
	m.lastPoolAction = m.clock.Now()
}

// freeENI detaches (without Force) and deletes an ENI, retrying the
// delete while EC2 still reports it in use (upstream's freeENI and
// deleteENI, with their log lines).
func (m *poolManager) freeENI(ctx context.Context, id string) error {
	m.log.Info(fmt.Sprintf("Trying to free ENI: %s", id))
	e, err := m.ec2.DescribeENI(ctx, id)
	if awsapi.IsNotFound(err) {
		m.log.Info(fmt.Sprintf("ENI %s not found. It seems to be already freed", id))
		return nil
	}
	if err != nil {
		m.log.Error(fmt.Sprintf("Failed to retrieve ENI %s attachment id: %v", id, err))
		return err
	}
	if e.AttachmentID != "" {
		if err := m.ec2.DetachENI(ctx, e.AttachmentID); err != nil && !awsapi.IsNotFound(err) {
			m.log.Error(fmt.Sprintf("Failed to detach ENI %s %v", id, err))
			return err
		}
		m.log.Info(fmt.Sprintf("Successfully detached ENI: %s", id))
		// Upstream waits 2 s for EC2 to finish the detach before deleting.
		if err := clock.Sleep(ctx, m.sleep, 2*time.Second); err != nil {
			return err
		}
	}
	wait := time.Second
	for attempt := 1; ; attempt++ {
		m.log.Debug(fmt.Sprintf("Trying to delete ENI: %s", id))
		err = m.ec2.DeleteENI(ctx, id)
		if err == nil {
			m.log.Info(fmt.Sprintf("Successfully deleted ENI: %s", id))
			m.log.Info(fmt.Sprintf("Successfully freed ENI: %s", id))
			return nil
		}
		m.log.Debug(fmt.Sprintf("Not able to delete ENI: %v ", err))
		if awsapi.Code(err) != "InvalidNetworkInterface.InUse" || attempt >= 6 {
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
			m.log.Warn(fmt.Sprintf("Failed to delete Prefix %s on ENI %s from datastore: %s", p, a.ENIID, err))
			m.metrics.ipamdError("decreaseIPPool")
			continue
		}
		freed = append(freed, p)
	}
	if len(freed) == 0 {
		return
	}
	m.deallocCIDRs(ctx, a.ENIID, nil, freed)
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

// deallocCIDRs gives addresses and prefixes back to EC2, logging as
// upstream's DeallocIPAddresses / DeallocPrefixAddresses; on failure the
// reconcile re-adds what EC2 still has.
func (m *poolManager) deallocCIDRs(ctx context.Context, eniID string, ips []netip.Addr, prefixes []netip.Prefix) {
	if len(ips) > 0 {
		m.log.Info(fmt.Sprintf("Trying to unassign the following IPs %v from ENI %s", ips, eniID))
	}
	if len(prefixes) > 0 {
		m.log.Info(fmt.Sprintf("Trying to unassign the following Prefixes %v from ENI %s", prefixes, eniID))
	}
	if err := m.ec2.Unassign(ctx, eniID, ips, prefixes); err != nil {
		m.log.Error(fmt.Sprintf("Failed to deallocate a private IP address %v", err))
		return
	}
	m.log.Debug(fmt.Sprintf("Successfully freed IPs %v from ENI %s", ips, eniID))
}
