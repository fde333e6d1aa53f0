package ipamd

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/datastore"
)

// restore rebuilds the datastore: EC2's DescribeNetworkInterfaces is the
// truth about ENIs and addresses; the checkpoint says which pod holds
// which; entries whose pod's host veth is gone are dropped.
func (m *poolManager) restore(ctx context.Context, cp datastore.Checkpointer) error {
	m.store.SetPrefixMode(m.cfg.EnablePrefixDelegation)
	now := m.clock.Now()
	enis, err := m.ec2.AttachedENIs(ctx, m.identity.InstanceID)
	if err != nil {
		// Fatal, with upstream's nodeInit wording (DescribeAllENIs).
		return fmt.Errorf("ipamd init: failed to retrieve attached ENIs info: %w", err)
	}
	if err := m.loadSubnets(ctx); err != nil {
		m.log.Warn("DescribeSubnets failed; subnet CIDRs come from IMDS", "err", err)
	}
	for _, e := range enis {
		if e.NetworkCard != m.limits.DefaultNetworkCard {
			continue
		}
		if e.Tags[awsapi.TagNoManage] == "true" && e.DeviceIndex != 0 {
			m.log.Info("ENI is tagged no_manage; leaving it alone", "eni", e.ID)
			m.unmanaged[e.ID] = true
			continue
		}
		if e.IsTrunk() {
			m.log.Info("Trunk ENI found; no pod IPs from it", "eni", e.ID)
			m.trunkFound(ctx, e)
			m.unmanaged[e.ID] = true
			continue
		}
		// As upstream's nodeInit: tagged before it is set up, and an ENI
		// that cannot be tagged fails start-up.
		if err := m.tagManagedENI(ctx, e); err != nil {
			return fmt.Errorf("ipamd init: failed to tag managed ENI %v: %w", e.ID, err)
		}
		if err := m.adoptENI(ctx, e, now); err != nil {
			m.log.Error("restore: cannot set up ENI", "eni", e.ID, "err", err)
			m.metrics.ipamdError("restoreSetupENI")
		}
		m.ensureDeleteOnTermination(ctx, e)
	}

	saved, found, err := readCheckpoint(cp)
	switch {
	case err != nil:
		return err
	case !found:
		m.log.Info("no checkpoint; starting with no assignments", "path", m.opts.CheckpointPath)
	default:
		m.restoreAssignments(saved)
	}
	m.dropOtherKind(ctx)
	if !found {
		// As upstream's ReadBackingStore: a new node writes no
		// checkpoint until its first pod.
		return nil
	}
	if err := m.store.Save(); err != nil {
		return fmt.Errorf("%w", err)
	}
	return nil
}

// restoreAssignments re-applies the checkpoint's assignments to the
// addresses EC2 says the node has. As upstream's
// normalizeCheckpointDataByPodVethExistence, an entry whose pod has no host
// veth (hostVeths) is stale: its address is released and its IP rules are
// pruned. An entry without pod namespace and name is kept, as upstream's.
func (d *Daemon) restoreAssignments(cp datastore.Checkpoint) {
	hasVeth, err := d.hostVeths()
	if err != nil {
		d.log.Warn("restore: cannot list the node's links; keeping every checkpoint entry", "err", err)
	}
	kept := 0
	var stale []netip.Addr
	for _, e := range cp.Allocations {
		ip, _ := netip.ParseAddr(e.IPv4)
		pod := datastore.Pod{Name: e.Metadata.K8SPodName, Namespace: e.Metadata.K8SPodNamespace, Netns: e.Metadata.Netns}
		if hasVeth != nil && pod.Name != "" && pod.Namespace != "" && !hasVeth(pod.Namespace, pod.Name) {
			d.log.Warn(fmt.Sprintf("stale IP allocation for ID(%v): IPv4(%v), IPv6(%v) due to host-side veth not found for pod %v/%v",
				e.Key.ContainerID, e.IPv4, "", pod.Namespace, pod.Name))
			stale = append(stale, ip)
			continue
		}
		if _, err := d.store.AssignIP(e.Key, pod, ip, time.Unix(0, e.AllocationTimestamp)); err != nil {
			d.log.Warn("restore: dropping checkpoint entry", "key", e.Key, "ip", ip, "err", err)
			continue
		}
		kept++
	}
	if len(stale) > 0 {
		d.pruneStaleRules(stale)
	}
	for _, c := range cp.Cooling {
		if ip, err := netip.ParseAddr(c.IPv4); err == nil {
			d.store.MarkCooling(ip, time.Unix(0, c.ReleasedAt))
		}
	}
	d.log.Info("restored assignments from checkpoint", "kept", kept, "inCheckpoint", len(cp.Allocations))
}

// dropOtherKind gives back unused /32s in prefix mode and unused prefixes
// in secondary-IP mode (left over from a mode switch), as upstream does.
func (m *poolManager) dropOtherKind(ctx context.Context) {
	now := m.clock.Now()
	wantBits := 32
	if m.cfg.EnablePrefixDelegation {
		wantBits = 28
		m.log.Debug("tryUnassignIPsFromENIs")
	} else {
		m.log.Debug("tryUnassignPrefixesFromENIs")
	}
	for _, e := range m.store.ENIs(now) {
		var ips []netip.Addr
		var prefixes []netip.Prefix
		for _, c := range m.store.FreeableCIDRs(e.ID, now) {
			if c.Bits() == wantBits {
				continue
			}
			if _, err := m.store.RemoveCIDR(e.ID, c, false, now); err != nil {
				continue
			}
			if c.Bits() == 32 {
				ips = append(ips, c.Addr())
			} else {
				prefixes = append(prefixes, c)
			}
			m.recentlyFreed[c.String()] = now
		}
		if len(ips)+len(prefixes) > 0 {
			m.deallocCIDRs(ctx, e.ID, ips, prefixes)
		}
	}
}
