package ipamd

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/datastore"
)

// cidrKind is what differs between the reconcile of secondary addresses
// and of /28 prefixes.
type cidrKind struct {
	bits     int
	addErrFn string // awscni_ipamd_error_count fn when adding fails
	fromEC2  func(awsapi.ENI) []netip.Prefix
}

var (
	secondaryIPs = cidrKind{bits: 32, addErrFn: "ipReconcileAdd", fromEC2: func(e awsapi.ENI) []netip.Prefix {
		out := make([]netip.Prefix, 0, len(e.SecondaryIPs))
		for _, ip := range e.SecondaryIPs {
			out = append(out, netip.PrefixFrom(ip, 32))
		}
		return out
	}}
	ipv4Prefixes = cidrKind{bits: 28, addErrFn: "prefixReconcileAdd", fromEC2: func(e awsapi.ENI) []netip.Prefix {
		return slices.Clone(e.Prefixes)
	}}
)

// eniIPPoolReconcile reconciles an ENI's secondary addresses with IMDS's
// (upstream's eniIPPoolReconcile): the primary address is not a pod address.
func (m *poolManager) eniIPPoolReconcile(ctx context.Context, meta awsapi.ENIMeta, info datastore.ENIInfo, now time.Time) {
	primary := info.PrimaryIP
	if !primary.IsValid() && len(meta.IPs) > 0 {
		primary = meta.IPs[0] // IMDS lists the primary address first
	}
	var imds []netip.Prefix
	for _, ip := range meta.IPs {
		if ip != primary {
			imds = append(imds, netip.PrefixFrom(ip, 32))
		}
	}
	m.reconcileCIDRs(ctx, info, imds, secondaryIPs, now)
}

// eniPrefixPoolReconcile is the same for /28 prefixes (upstream's
// eniPrefixPoolReconcile).
func (m *poolManager) eniPrefixPoolReconcile(ctx context.Context, meta awsapi.ENIMeta, info datastore.ENIInfo, now time.Time) {
	m.reconcileCIDRs(ctx, info, meta.Prefixes, ipv4Prefixes, now)
}

// reconcileCIDRs trusts IMDS when it agrees with the datastore; when not,
// it asks EC2 (DescribeNetworkInterfaces) and follows EC2. Then it adds what
// the source shows (verifyAndAdd) and force-removes what it does not.
func (m *poolManager) reconcileCIDRs(ctx context.Context, info datastore.ENIInfo, shown []netip.Prefix, k cidrKind, now time.Time) {
	inStore := storeCIDRs(info, k.bits)
	needEC2 := true
	if !sameSet(shown, inStore) {
		m.log.Warn("Instance metadata does not match data store!", "eni", info.ID, "datastore", len(inStore), "metadata", len(shown))
		e, err := m.ec2.DescribeENI(ctx, info.ID)
		if err != nil {
			m.log.Error("Failed to fetch ENI IP addresses! Aborting reconcile of ENI", "eni", info.ID, "err", err)
			return
		}
		shown, needEC2 = k.fromEC2(e), false
	}
	seen := m.verifyAndAdd(ctx, info.ID, shown, needEC2, k, now)
	for c, ci := range inStore {
		if seen[c] || now.Sub(ci.AddedAt) <= reconcileCooldown {
			continue
		}
		dropped, err := m.store.RemoveCIDR(info.ID, c, true, now)
		if err != nil {
			m.log.Error("Failed to reconcile and delete IP", "eni", info.ID, "cidr", c, "err", err)
			m.metrics.ipamdError("ipReconcileDel")
			continue
		}
		if len(dropped) > 0 {
			m.metrics.forceRemovedIP.Add(float64(len(dropped)))
		}
		m.log.Warn("Reconcile and delete IP EC2 no longer has", "eni", info.ID, "cidr", c, "podsLosingAddress", len(dropped))
		m.metrics.reconcile.WithLabelValues("eniIPPoolReconcileDel").Inc()
	}
}

// verifyAndAdd adds the CIDRs shown to the datastore (upstream's
// verifyAndAddIPsToDatastore / verifyAndAddPrefixesToDatastore): one freed
// within reconcileCooldown is skipped; one freed longer ago is re-added only
// once EC2 confirms the ENI holds it (one DescribeNetworkInterfaces per
// ENI), when the list came from IMDS. Every CIDR kept counts as
// eniDataStorePoolReconcileAdd, as upstream counts it, new or not.
func (m *poolManager) verifyAndAdd(ctx context.Context, eniID string, shown []netip.Prefix, needEC2 bool, k cidrKind, now time.Time) map[netip.Prefix]bool {
	seen := map[netip.Prefix]bool{}
	var verified []netip.Prefix
	for _, c := range shown {
		key := c.String()
		if at, found := m.recentlyFreed[key]; found {
			if now.Sub(at) <= reconcileCooldown {
				continue
			}
			if needEC2 {
				if verified == nil {
					e, err := m.ec2.DescribeENI(ctx, eniID)
					if err != nil {
						m.log.Error("Failed to fetch ENI IP addresses from EC2!", "eni", eniID, "err", err)
						seen[c] = true // keep it until EC2 has answered
						continue
					}
					verified = append(k.fromEC2(e), netip.Prefix{}) // non-nil even when empty
				}
				if !slices.Contains(verified, c) {
					m.log.Warn("Skipping IP on ENI because it does not belong to this ENI!", "eni", eniID, "cidr", c)
					continue
				}
			}
			delete(m.recentlyFreed, key)
		}
		if err := m.store.AddCIDR(eniID, c, now); err != nil {
			m.log.Error("Failed to reconcile IP on ENI", "eni", eniID, "cidr", c, "err", err)
			m.metrics.ipamdError(k.addErrFn)
			continue
		}
		seen[c] = true
		m.metrics.reconcile.WithLabelValues("eniDataStorePoolReconcileAdd").Inc()
	}
	return seen
}
