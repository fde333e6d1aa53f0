package ipamd

import (
	"context"
	"fmt"
	"slices"
)

// refreshSecurityGroups is upstream's RefreshSGIDs: it reads the primary
// ENI's security groups from IMDS, logs each group added to or removed
// from ipamd's cache, and, when the set changed and custom networking is
// off, gives every managed ENI the new groups (ModifyNetworkInterfaceAttribute,
// one call per ENI). The cache starts empty, so start-up, which runs it once
// nodeInit has the ENIs, updates every ENI; after that it runs every
// SGRefreshPeriod and changes an ENI only when someone changed the primary
// ENI's groups. New ENIs are created with the cache, sorted. An IMDS error
// is returned (fatal at start-up, skipped until the next period after).
func (m *poolManager) refreshSecurityGroups(ctx context.Context) error {
	ids, err := m.imds.SecurityGroups(ctx, m.primary.MAC)
	if err != nil {
		return fmt.Errorf("security groups of the primary ENI: %w", err)
	}
	want := sortedSet(ids)
	added, removed := 0, 0
	for _, g := range want {
		if !slices.Contains(m.securityGroups, g) {
			m.log.Info(fmt.Sprintf("Found primary SG %s, added to ipamd cache", g))
			added++
		}
	}
	for _, g := range m.securityGroups {
		if !slices.Contains(ids, g) {
			m.log.Info(fmt.Sprintf("Removed primary SG %s from ipamd cache", g))
			removed++
		}
	}
	m.securityGroups = want
	if m.cfg.CustomNetworking || added+removed == 0 {
		return nil
	}
	for _, eni := range m.managedENIs() {
		m.log.Debug(fmt.Sprintf("Update ENI %s with security groups %v", eni, ids))
		if err := m.ec2.SetSecurityGroups(ctx, eni, ids); err != nil {
			m.log.Warn(fmt.Sprintf("Update: unable to update ENI %s security groups: %v", eni, err))
		}
	}
	return nil
}

// managedENIs is every ENI id in the datastore that is not unmanaged, in
// order (upstream's sorted set of the datastores' ENIs less unmanagedENIs).
func (m *poolManager) managedENIs() []string {
	var ids []string
	if m.v6 != nil {
		ids = append(ids, m.primary.ID) // the IPv6 datastore holds the primary ENI alone
	} else {
		for _, e := range m.store.ENIs(m.clock.Now()) {
			ids = append(ids, e.ID)
		}
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return m.unmanaged[id] })
	slices.Sort(ids)
	return ids
}

// sortedSet is ids sorted, each once (upstream's StringSet.SortedList).
func sortedSet(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
