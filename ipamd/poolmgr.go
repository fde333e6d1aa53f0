package ipamd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/datastore"
	"github.com/enilab/enilab/ipamd/pool"
)

// reconcileCooldown protects recent changes from a lagging
// DescribeNetworkInterfaces: a CIDR ipamd gave back is not re-added, and one
// it just added is not removed, for this long (upstream's ipReconcileCooldown).
const reconcileCooldown = 60 * time.Second

// updatePool is one pool check (upstream's updateIPPoolIfRequired).
func (d *Daemon) updatePool(ctx context.Context) {
	defer d.updateGauges()
	d.retryUnusableENIs()
	now := d.clock.Now()
	st := d.store.Stats(now)
	d.log.Debug("IP stats", "total", st.TotalIPs, "assigned", st.AssignedIPs, "cooldown", st.CoolingIPs, "prefixes", st.Prefixes, "freePrefixes", st.FreePrefixes)
	switch {
	case pool.TooLow(d.params, st):
		d.logPoolTooLow(st)
		d.increase(ctx)
	case pool.TooHigh(d.params, st):
		if since := now.Sub(d.lastDecrease); !d.lastDecrease.IsZero() && since <= d.cfg.DecreaseGap {
			d.log.Debug("Skipping decrease Datastore pool because time since last decrease is within the gap", "since", since, "gap", d.cfg.DecreaseGap)
		} else {
			d.decrease(ctx)
			d.lastDecrease, d.lastPoolAction = now, now
		}
	}
	now = d.clock.Now()
	st = d.store.Stats(now)
	if pool.ShouldRemoveExtraENIs(d.params, st, d.store.ENIs(now), now, d.cfg.ENIMinAge) {
		d.tryFreeENI(ctx)
	}
}

func (d *Daemon) logPoolTooLow(st datastore.Stats) {
	if short, _, ok := pool.TargetState(d.params, st); ok {
		d.log.Debug("IP pool is too low", "short", short, "available", st.Available(), "warmIPTarget", d.cfg.WarmIPTarget, "minimumIPTarget", d.cfg.MinimumIPTarget)
		return
	}
	warm, per := d.cfg.WarmENITarget, d.params.SlotsPerENI
	if d.cfg.EnablePrefixDelegation {
		warm, per = d.cfg.WarmPrefixTarget, pool.IPsPerPrefix
	}
	d.log.Debug(fmt.Sprintf("IP pool is too low: available (%d) < ENI target (%d) * addrsPerENI (%d)", st.Available(), warm, per))
}

// retryUnusableENIs retries the node networking of ENIs whose set-up
// failed earlier.
func (d *Daemon) retryUnusableENIs() {
	for _, e := range d.store.ENIs(d.clock.Now()) {
		if e.Usable || e.Primary {
			continue
		}
		if err := d.setupENINetwork(e.MAC, e.PrimaryIP, e.SubnetCIDR, e.DeviceNumber); err == nil {
			d.store.SetUsable(e.ID, true)
			d.log.Info("ENI networking set up", "eni", e.ID)
		}
	}
}

// increase grows the pool: more addresses or prefixes on an existing ENI,
// else a new ENI (upstream's increaseDatastorePool).
func (d *Daemon) increase(ctx context.Context) {
	now := d.clock.Now()
	if !d.lastSubnetErr.IsZero() && now.Sub(d.lastSubnetErr) <= d.cfg.SubnetPause {
		d.log.Debug("Recently we had InsufficientCidr error hence will wait before retrying", "pause", d.cfg.SubnetPause, "since", now.Sub(d.lastSubnetErr))
		return
	}
	increased, err := d.tryAssignCIDRs(ctx)
	// With subnet discovery, an exhausted subnet still leaves a new ENI in
	// another subnet to try; only when that is impossible does the pause
	// start.
	exhausted := awsapi.IsSubnetExhausted(err)
	if err != nil && !(exhausted && d.cfg.EnableSubnetDiscovery) {
		if exhausted {
			d.subnetExhausted(err)
			return
		}
		d.log.Error("failed to increase pool", "err", err)
		return
	}
	if increased {
		d.lastPoolAction = d.clock.Now()
		return
	}
	if !d.hasRoomForENI() {
		if exhausted {
			d.subnetExhausted(err)
		}
		d.log.Debug("Skipping ENI allocation as the max ENI limit is already reached", "maxENIs", d.maxENIs)
		return
	}
	if err := d.tryAllocateENI(ctx); err != nil {
		d.log.Debug("Error trying to allocate ENI", "err", err)
		return
	}
	d.lastPoolAction = d.clock.Now()
}

func (d *Daemon) subnetExhausted(err error) {
	d.lastSubnetErr = d.clock.Now()
	d.log.Error("Unable to attach IPs/Prefixes for the ENI, subnet doesn't seem to have enough IPs/Prefixes. Consider using new subnet or carve a reserved range using create-subnet-cidr-reservation",
		"code", awsapi.Code(err), "pause", d.cfg.SubnetPause, "err", err)
}

func (d *Daemon) hasRoomForENI() bool {
	return d.store.Stats(d.clock.Now()).ENIs < d.maxENIs-len(d.unmanaged)
}

// tryAssignCIDRs asks EC2 for more addresses (or prefixes) on the first ENI
// with room (upstream's tryAssignIPs / tryAssignPrefixes). With subnet
// discovery, ENIs in other subnets are tried after one whose subnet is
// exhausted; the exhaustion error is returned when none had room.
func (d *Daemon) tryAssignCIDRs(ctx context.Context) (bool, error) {
	now := d.clock.Now()
	st := d.store.Stats(now)
	if short, _, ok := pool.TargetState(d.params, st); ok && short == 0 {
		return false, nil
	}
	var exhausted error
	for _, e := range d.store.ENIs(now) {
		if !e.Usable || (e.Primary && d.cfg.CustomNetworking) {
			continue
		}
		have := len(e.CIDRs)
		if have >= d.params.SlotsPerENI {
			continue
		}
		var n int
		if d.cfg.EnablePrefixDelegation {
			n = min(d.params.SlotsPerENI-have, pool.PrefixesNeeded(d.params, st))
		} else {
			n = pool.IPsToAssign(d.params, st, have)
		}
		if n <= 0 {
			return false, exhausted
		}
		added, err := d.assignOn(ctx, e.ID, n)
		if err != nil && awsapi.Code(err) != awsapi.CodePrivateIPLimitExceeded {
			d.log.Warn("failed to allocate all available IP addresses on ENI", "eni", e.ID, "count", n, "err", err)
			added, err = d.assignOn(ctx, e.ID, 1)
		}
		if err != nil && awsapi.Code(err) == awsapi.CodePrivateIPLimitExceeded {
			d.log.Debug("AssignPrivateIpAddresses returned PrivateIpAddressLimitExceeded; the datastore may be out of sync, resyncing the ENI from EC2", "eni", e.ID)
			return true, d.resyncENI(ctx, e.ID)
		}
		if err != nil {
			d.metrics.ipamdError("increaseIPPoolAllocIPAddressesFailed")
			err = fmt.Errorf("failed to allocate one IP address on ENI %s: %w", e.ID, err)
			if d.cfg.EnableSubnetDiscovery && awsapi.IsSubnetExhausted(err) {
				exhausted = err
				continue
			}
			return false, err
		}
		for _, c := range added {
			d.store.AddCIDR(e.ID, c, d.clock.Now())
		}
		d.log.Info("increased pool", "eni", e.ID, "added", len(added), "prefixMode", d.cfg.EnablePrefixDelegation)
		return true, nil
	}
	return false, exhausted
}

func (d *Daemon) assignOn(ctx context.Context, eniID string, n int) ([]netip.Prefix, error) {
	if d.cfg.EnablePrefixDelegation {
		return d.ec2.AssignPrefixes(ctx, eniID, n)
	}
	ips, err := d.ec2.AssignIPs(ctx, eniID, n)
	out := make([]netip.Prefix, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.PrefixFrom(ip, 32))
	}
	return out, err
}

// resyncENI adds whatever EC2 says the ENI holds and the datastore lacks.
func (d *Daemon) resyncENI(ctx context.Context, eniID string) error {
	e, err := d.ec2.DescribeENI(ctx, eniID)
	if err != nil {
		d.metrics.ipamdError("increaseIPPoolGetENIaddressesFailed")
		return fmt.Errorf("resync ENI %s: %w", eniID, err)
	}
	now := d.clock.Now()
	for _, ip := range e.SecondaryIPs {
		d.store.AddCIDR(eniID, netip.PrefixFrom(ip, 32), now)
	}
	for _, p := range e.Prefixes {
		d.store.AddCIDR(eniID, p, now)
	}
	return nil
}

// eniPlacement returns the subnets to try for a new ENI, in order, and the
// security groups to give it.
func (d *Daemon) eniPlacement(ctx context.Context) ([]string, []string) {
	sgs := d.primary.SecurityGroups
	if d.cfg.CustomNetworking && d.eniConfig != nil {
		if len(d.eniConfig.SecurityGroups) > 0 {
			sgs = d.eniConfig.SecurityGroups
		}
		return []string{d.eniConfig.Subnet}, sgs
	}
	if !d.cfg.EnableSubnetDiscovery {
		return []string{d.primary.SubnetID}, sgs
	}
	subnets, err := d.ec2.Subnets(ctx, d.primary.VPCID)
	if err != nil {
		d.log.Warn("subnet discovery: DescribeSubnets failed; using the primary ENI's subnet", "err", err)
		return []string{d.primary.SubnetID}, sgs
	}
	var cands []awsapi.Subnet
	for _, s := range subnets {
		if s.CIDR.IsValid() {
			d.subnetCIDRs[s.ID] = s.CIDR
		}
		if s.AZ != d.identity.AZ && s.ID != d.primary.SubnetID {
			continue
		}
		if _, tagged := s.Tags["kubernetes.io/role/cni"]; s.ID == d.primary.SubnetID || tagged {
			cands = append(cands, s)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].Free > cands[j].Free })
	ids := make([]string, 0, len(cands))
	for _, s := range cands {
		ids = append(ids, s.ID)
	}
	if len(ids) == 0 {
		ids = []string{d.primary.SubnetID}
	}
	return ids, sgs
}

// tryAllocateENI creates, attaches and fills a new ENI (upstream's
// tryAllocateENI + AllocENI + WaitForENIAndIPsAttached + setupENI).
func (d *Daemon) tryAllocateENI(ctx context.Context) error {
	st := d.store.Stats(d.clock.Now())
	n := pool.NewENIResources(d.params, st)
	if n <= 0 {
		d.log.Debug("Did not allocate ENI since IPs/Prefixes needed were not greater than 0")
		return nil
	}
	subnets, sgs := d.eniPlacement(ctx)
	tags := map[string]string{
		awsapi.TagInstanceID: d.identity.InstanceID,
		awsapi.TagCreatedAt:  d.clock.Now().UTC().Format(time.RFC3339),
	}
	if d.cfg.ClusterName != "" {
		tags[awsapi.TagCluster] = d.cfg.ClusterName
	}
	for k, v := range d.cfg.AdditionalENITags {
		tags[k] = v
	}
	spec := awsapi.CreateSpec{SecurityGroups: sgs, Description: awsapi.DescriptionPrefix + d.identity.InstanceID, Tags: tags}
	if d.cfg.EnablePrefixDelegation {
		spec.Prefixes = n
	} else {
		spec.IPs = n
	}
	var eni awsapi.ENI
	var err error
	for i, subnet := range subnets {
		spec.SubnetID = subnet
		d.log.Info("Creating ENI", "subnet", subnet, "securityGroups", sgs, "ips", spec.IPs, "prefixes", spec.Prefixes)
		eni, err = d.ec2.CreateENI(ctx, spec)
		if err == nil {
			break
		}
		if awsapi.IsSubnetExhausted(err) && i+1 < len(subnets) {
			d.log.Warn("subnet is exhausted; trying the next one", "subnet", subnet, "code", awsapi.Code(err))
			continue
		}
		break
	}
	if err != nil {
		d.metrics.ipamdError("increaseIPPoolAllocENI")
		d.log.Error("Failed to increase pool size due to not able to allocate ENI", "err", err)
		if awsapi.IsSubnetExhausted(err) {
			d.subnetExhausted(err)
		}
		return err
	}
	device, err := d.freeDeviceIndex(ctx)
	if err == nil {
		eni.AttachmentID, err = d.ec2.AttachENI(ctx, eni.ID, d.identity.InstanceID, device)
	}
	if err != nil {
		d.metrics.ipamdError("increaseIPPoolAttachENI")
		d.log.Error("attaching the new ENI failed; deleting it", "eni", eni.ID, "err", err)
		if ctx.Err() == nil {
			if derr := d.ec2.DeleteENI(ctx, eni.ID); derr != nil {
				d.log.Error("deleting the ENI whose attach failed also failed; the leak cleanup will retry", "eni", eni.ID, "err", derr)
			}
		}
		return err
	}
	eni.DeviceIndex, eni.InstanceID = device, d.identity.InstanceID
	if err := d.ec2.SetDeleteOnTermination(ctx, eni.ID, eni.AttachmentID); err != nil {
		// Without DeleteOnTermination the ENI would outlive the instance;
		// upstream gives such an ENI back rather than keep it.
		d.metrics.ipamdError("increaseIPPoolSetDeleteOnTermination")
		d.log.Error("cannot set DeleteOnTermination on the new ENI; freeing it", "eni", eni.ID, "err", err)
		if ctx.Err() == nil {
			if ferr := d.freeENI(ctx, eni.ID); ferr != nil {
				d.log.Error("freeing the ENI without DeleteOnTermination failed; the reconcile and the leak cleanup will retry", "eni", eni.ID, "err", ferr)
			}
		}
		return err
	}
	meta, err := d.waitForENIInIMDS(ctx, eni.MAC, n)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		// EC2 already told us everything the datastore needs; carrying on
		// keeps the pool from creating yet another ENI meanwhile.
		d.metrics.ipamdError("increaseIPPoolwaitENIAttachedFailed")
		d.log.Warn("Unable to discover attached ENI from metadata service; using what EC2 returned", "eni", eni.ID, "err", err)
	}
	if len(eni.SecondaryIPs) == 0 && len(eni.Prefixes) == 0 {
		eni.SecondaryIPs, eni.Prefixes = meta.IPs[min(1, len(meta.IPs)):], meta.Prefixes
	}
	if !eni.PrimaryIP.IsValid() && len(meta.IPs) > 0 {
		eni.PrimaryIP = meta.IPs[0]
	}
	if meta.SubnetCIDR.IsValid() {
		d.subnetCIDRs[eni.SubnetID] = meta.SubnetCIDR
	}
	if err := d.adoptENI(ctx, eni, d.clock.Now()); err != nil {
		d.log.Error("new ENI attached but its networking failed; it stays unusable until set up", "eni", eni.ID, "err", err)
	}
	d.log.Info("ENI allocated and set up", "eni", eni.ID, "device", device, "ips", len(eni.SecondaryIPs), "prefixes", len(eni.Prefixes))
	return nil
}

// freeDeviceIndex is the lowest device index of the default card no ENI
// uses, as EC2 sees it.
func (d *Daemon) freeDeviceIndex(ctx context.Context) (int, error) {
	enis, err := d.ec2.AttachedENIs(ctx, d.identity.InstanceID)
	if err != nil {
		return 0, err
	}
	used := map[int]bool{}
	for _, e := range enis {
		if e.NetworkCard == d.limits.DefaultNetworkCard {
			used[e.DeviceIndex] = true
		}
	}
	for i := 1; ; i++ {
		if !used[i] {
			return i, nil
		}
	}
}

// waitForENIInIMDS waits, with backoff on the lab clock, until IMDS shows
// the ENI with its addresses (IMDS lags EC2).
func (d *Daemon) waitForENIInIMDS(ctx context.Context, mac string, n int) (awsapi.ENIMeta, error) {
	wait := 200 * time.Millisecond
	var lastErr error
	for attempt := 1; attempt <= 15; attempt++ {
		meta, err := d.imds.ENI(ctx, mac)
		if err == nil {
			got := len(meta.IPs) - 1
			if d.cfg.EnablePrefixDelegation {
				got = len(meta.Prefixes)
			}
			if got >= n {
				return meta, nil
			}
			err = fmt.Errorf("IMDS shows %d of %d addresses/prefixes", got, n)
		}
		lastErr = err
		if serr := clock.Sleep(ctx, d.sleep, wait); serr != nil {
			return awsapi.ENIMeta{}, serr
		}
		wait = min(wait*2, 5*time.Second)
	}
	return awsapi.ENIMeta{}, fmt.Errorf("ENI %s not in IMDS: %w", mac, lastErr)
}

// decrease gives back surplus addresses or prefixes (upstream's
// tryUnassignCidrsFromAll), highest device first so that secondary ENIs
// empty out and can be freed.
func (d *Daemon) decrease(ctx context.Context) {
	now := d.clock.Now()
	over := pool.ToFree(d.params, d.store.Stats(now))
	if over <= 0 {
		return
	}
	enis := d.store.ENIs(now)
	for i := len(enis) - 1; i >= 0 && over > 0; i-- {
		e := enis[i]
		cidrs := d.store.FreeableCIDRs(e.ID, now)
		if len(cidrs) > over {
			cidrs = cidrs[:over]
		}
		var ips []netip.Addr
		var prefixes []netip.Prefix
		for _, c := range cidrs {
			if _, err := d.store.RemoveCIDR(e.ID, c, false, now); err != nil {
				d.log.Warn("cannot remove CIDR from datastore", "eni", e.ID, "cidr", c, "err", err)
				d.metrics.ipamdError("decreaseIPPool")
				continue
			}
			d.recentlyFreed[c.String()] = now
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
		if err := d.ec2.Unassign(ctx, e.ID, ips, prefixes); err != nil {
			d.log.Warn("Failed to free IPs/Prefixes from ENI; the reconcile will re-add what EC2 still has", "eni", e.ID, "err", err)
		} else {
			d.log.Info("decreased pool", "eni", e.ID, "ips", len(ips), "prefixes", len(prefixes))
		}
	}
}

// tryFreeENI frees one surplus ENI (upstream's tryFreeENI + FreeENI).
func (d *Daemon) tryFreeENI(ctx context.Context) {
	now := d.clock.Now()
	id, ok := pool.DeletableENI(d.params, d.store.ENIs(now), now, d.cfg.ENIMinAge)
	if !ok {
		return
	}
	info, _ := d.store.ENI(id, now)
	if _, err := d.store.RemoveENI(id, false, now); err != nil {
		d.log.Warn("cannot remove ENI from datastore", "eni", id, "err", err)
		return
	}
	d.recentlyFreed[id] = now
	d.log.Info("freeing surplus ENI", "eni", id, "device", info.DeviceNumber)
	d.teardownENINetwork(info.ENI)
	if err := d.freeENI(ctx, id); err != nil {
		d.metrics.ipamdError("decreaseIPPoolFreeENIFailed")
		d.log.Error("Failed to free ENI", "eni", id, "err", err)
	}
	d.lastPoolAction = d.clock.Now()
}

// freeENI detaches and deletes an ENI, retrying the delete while EC2 still
// reports it in use.
func (d *Daemon) freeENI(ctx context.Context, id string) error {
	e, err := d.ec2.DescribeENI(ctx, id)
	if awsapi.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if e.AttachmentID != "" {
		if err := d.ec2.DetachENI(ctx, e.AttachmentID); err != nil && !awsapi.IsNotFound(err) {
			return err
		}
	}
	wait := time.Second
	for attempt := 1; ; attempt++ {
		err = d.ec2.DeleteENI(ctx, id)
		if err == nil || awsapi.Code(err) != "InvalidNetworkInterface.InUse" || attempt >= 6 {
			return err
		}
		if serr := clock.Sleep(ctx, d.sleep, wait); serr != nil {
			return serr
		}
		wait *= 2
	}
}

// reconcile compares the datastore with EC2 and fixes what disagrees
// (upstream's nodeIPPoolReconcile, with DescribeNetworkInterfaces as truth).
// It waits until neither the pool nor a reconcile has acted for
// ReconcilePeriod, so it never races a change EC2 may not show yet and
// runs every ReconcilePeriod on a quiet node.
func (d *Daemon) reconcile(ctx context.Context) {
	now := d.clock.Now()
	if since := now.Sub(d.lastPoolAction); !d.lastPoolAction.IsZero() && since < d.cfg.ReconcilePeriod {
		return
	}
	defer d.updateGauges()
	enis, err := d.ec2.AttachedENIs(ctx, d.identity.InstanceID)
	if err != nil {
		d.log.Error("IP pool reconcile: Failed to get attached ENI info", "err", err)
		d.metrics.ipamdError("reconcileFailedGetENIs")
		return
	}
	for id, at := range d.recentlyFreed {
		if now.Sub(at) > reconcileCooldown {
			delete(d.recentlyFreed, id)
		}
	}
	current := map[string]datastore.ENIInfo{}
	for _, e := range d.store.ENIs(now) {
		current[e.ID] = e
	}
	for _, e := range enis {
		if e.NetworkCard != d.limits.DefaultNetworkCard || d.unmanaged[e.ID] {
			continue
		}
		info, known := current[e.ID]
		delete(current, e.ID)
		if !known {
			if _, freed := d.recentlyFreed[e.ID]; freed {
				continue
			}
			if e.Tags[awsapi.TagNoManage] == "true" && e.DeviceIndex != 0 {
				d.unmanaged[e.ID] = true
				continue
			}
			d.log.Info("Reconcile and add a new ENI", "eni", e.ID)
			if err := d.adoptENI(ctx, e, now); err != nil {
				d.log.Error("IP pool reconcile: Failed to set up ENI", "eni", e.ID, "err", err)
				d.metrics.ipamdError("eniReconcileAdd")
			}
			d.ensureDeleteOnTermination(ctx, e)
			d.metrics.reconcile.WithLabelValues("eniReconcileAdd").Inc()
			continue
		}
		d.reconcileCIDRs(e, info, now)
	}
	for id, info := range current {
		if now.Sub(info.AddedAt) <= reconcileCooldown {
			continue
		}
		dropped, err := d.store.RemoveENI(id, true, now)
		if err != nil && !errors.Is(err, datastore.ErrUnknownENI) {
			d.log.Error("IP pool reconcile: Failed to delete ENI during reconcile", "eni", id, "err", err)
			d.metrics.ipamdError("eniReconcileDel")
			continue
		}
		d.log.Warn("Reconcile and delete detached ENI", "eni", id, "podsLosingAddress", len(dropped))
		if len(dropped) > 0 {
			d.metrics.forceRemovedE.Inc()
			d.metrics.forceRemovedIP.Add(float64(len(dropped)))
		}
		d.metrics.reconcile.WithLabelValues("eniReconcileDel").Inc()
	}
	d.lastPoolAction = now
}

func (d *Daemon) reconcileCIDRs(e awsapi.ENI, info datastore.ENIInfo, now time.Time) {
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
		if at, ok := d.recentlyFreed[c.String()]; ok && now.Sub(at) <= reconcileCooldown {
			continue
		}
		d.store.AddCIDR(e.ID, c, now)
		d.metrics.reconcile.WithLabelValues("eniDataStorePoolReconcileAdd").Inc()
		d.log.Info("Reconcile: adding address EC2 has and the datastore lacked", "eni", e.ID, "cidr", c)
	}
	for c, ci := range inStore {
		if inEC2[c] || now.Sub(ci.AddedAt) <= reconcileCooldown {
			continue
		}
		dropped, err := d.store.RemoveCIDR(e.ID, c, true, now)
		if err != nil {
			d.log.Error("Failed to reconcile and delete IP", "eni", e.ID, "cidr", c, "err", err)
			d.metrics.ipamdError("ipReconcileDel")
			continue
		}
		if len(dropped) > 0 {
			d.metrics.forceRemovedIP.Add(float64(len(dropped)))
		}
		d.log.Warn("Reconcile and delete IP EC2 no longer has", "eni", e.ID, "cidr", c, "podsLosingAddress", len(dropped))
		d.metrics.reconcile.WithLabelValues("eniIPPoolReconcileDel").Inc()
	}
}

// cleanLeakedENIs deletes unattached ENIs ipamd created (description
// aws-K8S-, instance tag) that are older than LeakedENIMinAge: left by a
// crash between create and attach, or a failed delete. As upstream, one
// without a createdAt tag (an older CNI may be attaching it right now) is
// stamped with the current time and judged by a later scan.
func (d *Daemon) cleanLeakedENIs(ctx context.Context) {
	d.log.Debug("Checking for leaked AWS CNI ENIs.")
	enis, err := d.ec2.LeakedENIs(ctx, d.primary.VPCID, d.cfg.ClusterName)
	if err != nil {
		d.log.Warn("Unable to list leaked ENIs", "err", err)
		return
	}
	now := d.clock.Now()
	for _, e := range enis {
		ts, err := time.Parse(time.RFC3339, e.Tags[awsapi.TagCreatedAt])
		if err != nil {
			d.log.Debug("Leaked ENI has no usable createdAt tag; tagging it now", "eni", e.ID)
			if err := d.ec2.CreateTags(ctx, e.ID, map[string]string{awsapi.TagCreatedAt: now.UTC().Format(time.RFC3339)}); err != nil {
				d.log.Warn("cannot tag leaked ENI with its discovery time", "eni", e.ID, "err", err)
			}
			continue
		}
		if now.Sub(ts) < d.cfg.LeakedENIMinAge {
			d.log.Debug("Leaked ENI is too young to be cleaned up", "eni", e.ID, "createdAt", ts)
			continue
		}
		if err := d.ec2.DeleteENI(ctx, e.ID); err != nil {
			d.log.Warn("Failed to delete leaked ENI", "eni", e.ID, "err", err)
			continue
		}
		d.log.Info("Deleted leaked ENI", "eni", e.ID)
	}
}
