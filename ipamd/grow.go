package ipamd

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/pool"
)

// increase grows the pool: more addresses or prefixes on an existing ENI,
// else a new ENI (upstream's increaseDatastorePool). Like upstream's, it
// returns only an error assigning addresses (other than subnet
// exhaustion): a failed ENI allocation must not keep the node from
// becoming ready.
func (m *poolManager) increase(ctx context.Context) error {
	m.log.Debug(fmt.Sprintf("Starting to increase pool size for network card %d", m.limits.DefaultNetworkCard))
	now := m.clock.Now()
	if !m.lastSubnetErr.IsZero() && now.Sub(m.lastSubnetErr) <= m.cfg.SubnetPause {
		m.log.Debug(fmt.Sprintf("Recently we had InsufficientCidr error hence will wait for %v before retrying", m.cfg.SubnetPause))
		return nil
	}
	increased, err := m.tryAssignCIDRs(ctx)
	if err != nil {
		if awsapi.IsSubnetExhausted(err) {
			m.subnetExhausted(err)
			return nil
		}
		m.log.Error(err.Error())
		return err
	}
	if increased {
		m.poolActionDone()
		return nil
	}
	if !m.hasRoomForENI() {
		m.log.Debug("Skipping ENI allocation as the max ENI limit is already reached")
		return nil
	}
	if err := m.tryAllocateENI(ctx); err != nil {
		m.log.Debug(fmt.Sprintf("Error trying to allocate ENI: %v", err))
		return nil
	}
	m.poolActionDone()
	return nil
}

// poolActionDone is upstream's updateLastNodeIPPoolAction.
func (m *poolManager) poolActionDone() {
	m.lastPoolAction = m.clock.Now()
	m.logPoolStats(m.store.Stats(m.lastPoolAction))
}

func (m *poolManager) subnetExhausted(err error) {
	m.lastSubnetErr = m.clock.Now()
	m.log.Error("Unable to attach IPs/Prefixes for the ENI, subnet doesn't seem to have enough IPs/Prefixes. Consider using new subnet or carve a reserved range using create-subnet-cidr-reservation",
		"code", awsapi.Code(err))
}

func (m *poolManager) hasRoomForENI() bool {
	return m.store.Stats(m.clock.Now()).ENIs < m.maxENIs-len(m.unmanaged)
}

// tryAssignCIDRs asks EC2 for more addresses (or prefixes) on the first ENI
// with room (upstream's tryAssignIPs / tryAssignPrefixes). With subnet
// discovery, an ENI whose subnet is exhausted is skipped, as upstream does;
// without it the exhaustion error is returned (and starts the pause).
func (m *poolManager) tryAssignCIDRs(ctx context.Context) (bool, error) {
	now := m.clock.Now()
	st := m.store.Stats(now)
	if short, _, ok := pool.TargetState(m.params, st); ok && short == 0 {
		return false, nil
	}
	for _, e := range m.store.ENIs(now) {
		if !e.Usable || (e.Primary && m.cfg.CustomNetworking) {
			continue
		}
		have := len(e.CIDRs)
		if have >= m.params.SlotsPerENI {
			continue
		}
		var n int
		if m.cfg.EnablePrefixDelegation {
			n = min(m.params.SlotsPerENI-have, pool.PrefixesNeeded(m.params, st))
		} else {
			n = pool.IPsToAssign(m.params, st, have)
		}
		if n <= 0 {
			return false, nil
		}
		added, err := m.assignOn(ctx, e.ID, n)
		if err != nil && awsapi.Code(err) != awsapi.CodePrivateIPLimitExceeded {
			what := "IP addresses"
			if m.cfg.EnablePrefixDelegation {
				what = "IPv4 Prefixes"
			}
			m.log.Warn(fmt.Sprintf("failed to allocate all available %s on ENI %s, err: %v", what, e.ID, err))
			added, err = m.assignOn(ctx, e.ID, 1)
		}
		if err != nil && awsapi.Code(err) == awsapi.CodePrivateIPLimitExceeded {
			m.log.Debug("AssignPrivateIpAddresses returned PrivateIpAddressLimitExceeded. This can happen if the data store is out of sync." +
				"Returning without an error here since we will verify the actual state by calling EC2 to see what addresses have already assigned to this ENI.")
			return true, m.resyncENI(ctx, e.ID)
		}
		if err != nil {
			m.metrics.ipamdError("increaseIPPoolAllocIPAddressesFailed")
			err = fmt.Errorf("failed to allocate one IP address on ENI %s: %w", e.ID, err)
			if m.cfg.EnableSubnetDiscovery && awsapi.IsSubnetExhausted(err) {
				// Upstream moves on to the next ENI and, when none had
				// room, reports no error: no InsufficientCidr pause, the
				// next pool check tries again.
				continue
			}
			return false, err
		}
		for _, c := range added {
			m.store.AddCIDR(e.ID, c, m.clock.Now())
		}
		return true, nil
	}
	return false, nil
}

// assignOn asks EC2 for n addresses or prefixes on an ENI, logging as
// upstream's AllocIPAddresses.
func (m *poolManager) assignOn(ctx context.Context, eniID string, n int) ([]netip.Prefix, error) {
	m.log.Info(fmt.Sprintf("Trying to allocate %d IP addresses on ENI %s", n, eniID))
	if m.cfg.EnablePrefixDelegation {
		ps, err := m.ec2.AssignPrefixes(ctx, eniID, n)
		m.logAllocated(eniID, "prefixes", len(ps), err)
		return ps, err
	}
	ips, err := m.ec2.AssignIPs(ctx, eniID, n)
	m.logAllocated(eniID, "addresses", len(ips), err)
	out := make([]netip.Prefix, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.PrefixFrom(ip, 32))
	}
	return out, err
}

func (m *poolManager) logAllocated(eniID, what string, n int, err error) {
	if err != nil {
		m.log.Error(fmt.Sprintf("Failed to allocate a private IP/Prefix addresses on ENI %v: %v", eniID, err))
		return
	}
	m.log.Info(fmt.Sprintf("Allocated %d private IP %s", n, what))
}

// resyncENI adds whatever EC2 says the ENI holds and the datastore lacks.
func (m *poolManager) resyncENI(ctx context.Context, eniID string) error {
	e, err := m.ec2.DescribeENI(ctx, eniID)
	if err != nil {
		m.metrics.ipamdError("increaseIPPoolGetENIaddressesFailed")
		return fmt.Errorf("resync ENI %s: %w", eniID, err)
	}
	now := m.clock.Now()
	for _, ip := range e.SecondaryIPs {
		m.store.AddCIDR(eniID, netip.PrefixFrom(ip, 32), now)
	}
	for _, p := range e.Prefixes {
		m.store.AddCIDR(eniID, p, now)
	}
	return nil
}

// tryAllocateENI creates, attaches and fills a new ENI (upstream's
// tryAllocateENI + AllocENI + WaitForENIAndIPsAttached + setupENI).
func (m *poolManager) tryAllocateENI(ctx context.Context) error {
	st := m.store.Stats(m.clock.Now())
	n := pool.NewENIResources(m.params, st)
	if n <= 0 {
		m.log.Debug(fmt.Sprintf("Did not allocate ENI since IPs/Prefixes needed were not greater than 0. IPs/Prefixes needed: %d", n))
		return nil
	}
	eni, err := m.createENI(ctx, n)
	if err != nil {
		return err
	}
	if eni, err = m.attachENI(ctx, eni); err != nil {
		return err
	}
	meta, err := m.waitForENIInIMDS(ctx, eni.MAC, n)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		// EC2 already told us everything the datastore needs; carrying on
		// keeps the pool from creating yet another ENI meanwhile.
		m.metrics.ipamdError("increaseIPPoolwaitENIAttachedFailed")
		m.log.Warn("Unable to discover attached ENI from metadata service; using what EC2 returned", "eni", eni.ID, "err", err)
	}
	if len(eni.SecondaryIPs) == 0 && len(eni.Prefixes) == 0 {
		eni.SecondaryIPs, eni.Prefixes = meta.IPs[min(1, len(meta.IPs)):], meta.Prefixes
	}
	if !eni.PrimaryIP.IsValid() && len(meta.IPs) > 0 {
		eni.PrimaryIP = meta.IPs[0]
	}
	if meta.SubnetCIDR.IsValid() {
		m.subnetCIDRs[eni.SubnetID] = meta.SubnetCIDR
	}
	if err := m.adoptENI(ctx, eni, m.clock.Now()); err != nil {
		m.log.Error("new ENI attached but its networking failed; it stays unusable until set up", "eni", eni.ID, "err", err)
	}
	m.log.Info(fmt.Sprintf("Successfully created and attached a new ENI %s to instance on network card %d", eni.ID, m.limits.DefaultNetworkCard))
	return nil
}

// createENI creates an ENI with n addresses (or prefixes), trying the next
// subnet while one is exhausted.
func (m *poolManager) createENI(ctx context.Context, n int) (awsapi.ENI, error) {
	subnets, sgs, err := m.eniSubnets(ctx)
	if err != nil {
		m.metrics.ipamdError("increaseIPPoolAllocENI")
		m.log.Error("Failed to increase pool size due to not able to allocate ENI", "err", err)
		return awsapi.ENI{}, err
	}
	tags := m.buildENITags()
	tags[awsapi.TagCreatedAt] = m.clock.Now().UTC().Format(time.RFC3339)
	spec := awsapi.CreateSpec{SecurityGroups: sgs, Description: awsapi.DescriptionPrefix + m.identity.InstanceID, Tags: tags}
	m.log.Info(fmt.Sprintf("Trying to allocate %d IP addresses on new ENI", n))
	if m.cfg.EnablePrefixDelegation {
		spec.Prefixes = n
	} else {
		spec.IPs = n
	}
	var eni awsapi.ENI
	for _, subnet := range subnets {
		spec.SubnetID = subnet
		m.log.Info(fmt.Sprintf("Creating ENI with security groups: %v in subnet: %s", sgs, subnet))
		eni, err = m.ec2.CreateENI(ctx, spec)
		if err == nil {
			m.log.Info(fmt.Sprintf("Created a new ENI: %s", eni.ID))
			return eni, nil
		}
		// Upstream's createENI tries every valid subnet, whatever the error.
		m.log.Error(fmt.Sprintf("Failed to CreateNetworkInterface %v for subnet %s", err, subnet))
	}
	err = fmt.Errorf("failed to create network interface: %w", err)
	m.metrics.ipamdError("increaseIPPoolAllocENI")
	m.log.Error(fmt.Sprintf("Failed to increase pool size due to not able to allocate ENI %v", err))
	m.log.Warn(fmt.Sprintf("Failed to allocate %d IP addresses on an ENI: %v", n, err))
	if awsapi.IsSubnetExhausted(err) {
		m.subnetExhausted(err)
	}
	return eni, err
}

// attachENI attaches a new ENI at the lowest free device index and sets
// DeleteOnTermination; on failure it gives the ENI back.
func (m *poolManager) attachENI(ctx context.Context, eni awsapi.ENI) (awsapi.ENI, error) {
	device, err := m.freeDeviceIndex(ctx)
	if err == nil {
		eni.AttachmentID, err = m.ec2.AttachENI(ctx, eni.ID, m.identity.InstanceID, device)
	}
	if err != nil {
		m.metrics.ipamdError("increaseIPPoolAttachENI")
		m.log.Error("attaching the new ENI failed; deleting it", "eni", eni.ID, "err", err)
		if ctx.Err() == nil {
			if derr := m.ec2.DeleteENI(ctx, eni.ID); derr != nil {
				m.log.Error("deleting the ENI whose attach failed also failed; the leak cleanup will retry", "eni", eni.ID, "err", derr)
			}
		}
		return eni, err
	}
	eni.DeviceIndex, eni.InstanceID = device, m.identity.InstanceID
	if err := m.ec2.SetDeleteOnTermination(ctx, eni.ID, eni.AttachmentID); err != nil {
		// Without DeleteOnTermination the ENI would outlive the instance;
		// upstream gives such an ENI back rather than keep it.
		m.metrics.ipamdError("increaseIPPoolSetDeleteOnTermination")
		m.log.Error("cannot set DeleteOnTermination on the new ENI; freeing it", "eni", eni.ID, "err", err)
		if ctx.Err() == nil {
			if ferr := m.freeENI(ctx, eni.ID); ferr != nil {
				m.log.Error("freeing the ENI without DeleteOnTermination failed; the reconcile and the leak cleanup will retry", "eni", eni.ID, "err", ferr)
			}
		}
		return eni, err
	}
	return eni, nil
}

// freeDeviceIndex is the lowest device index of the default card no ENI
// uses, as DescribeInstances shows it (upstream's awsGetFreeDeviceNumber).
func (m *poolManager) freeDeviceIndex(ctx context.Context) (int, error) {
	return m.ec2.FreeDeviceIndex(ctx, m.identity.InstanceID, m.limits.DefaultNetworkCard)
}

// waitForENIInIMDS waits, with backoff on the lab clock, until IMDS shows
// the ENI with its addresses (IMDS lags EC2).
func (m *poolManager) waitForENIInIMDS(ctx context.Context, mac string, n int) (awsapi.ENIMeta, error) {
	wait := 200 * time.Millisecond
	var lastErr error
	for attempt := 1; attempt <= 15; attempt++ {
		meta, err := m.imds.ENI(ctx, mac)
		if err == nil {
			got := len(meta.IPs) - 1
			if m.cfg.EnablePrefixDelegation {
				got = len(meta.Prefixes)
			}
			if got >= n {
				return meta, nil
			}
			err = fmt.Errorf("IMDS shows %d of %d addresses/prefixes", got, n)
		}
		lastErr = err
		if serr := clock.Sleep(ctx, m.sleep, wait); serr != nil {
			return awsapi.ENIMeta{}, serr
		}
		wait = min(wait*2, 5*time.Second)
	}
	return awsapi.ENIMeta{}, fmt.Errorf("ENI %s not in IMDS: %w", mac, lastErr)
}
