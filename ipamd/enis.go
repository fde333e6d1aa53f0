package ipamd

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"time"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/datastore"
	"github.com/enilab/enilab/ipamd/netsetup"
)

func (m *poolManager) loadSubnets(ctx context.Context) error {
	vpc := m.primary.VPCID
	if vpc == "" {
		return nil
	}
	subnets, err := m.ec2.Subnets(ctx, vpc, "")
	if err != nil {
		return err
	}
	for _, s := range subnets {
		if s.CIDR.IsValid() {
			m.subnetCIDRs[s.ID] = s.CIDR
		}
	}
	return nil
}

// subnetCIDR returns a subnet's CIDR from the cache, IMDS or EC2.
func (m *poolManager) subnetCIDR(ctx context.Context, e awsapi.ENI) (netip.Prefix, error) {
	if c, ok := m.subnetCIDRs[e.SubnetID]; ok {
		return c, nil
	}
	if meta, err := m.imds.ENI(ctx, e.MAC); err == nil && meta.SubnetCIDR.IsValid() {
		m.subnetCIDRs[e.SubnetID] = meta.SubnetCIDR
		return meta.SubnetCIDR, nil
	}
	if err := m.loadSubnets(ctx); err != nil {
		return netip.Prefix{}, err
	}
	if c, ok := m.subnetCIDRs[e.SubnetID]; ok {
		return c, nil
	}
	return netip.Prefix{}, fmt.Errorf("subnet %s of ENI %s: CIDR unknown", e.SubnetID, e.ID)
}

// adoptENI records an attached ENI and its addresses, setting up its node
// networking first (a secondary ENI whose networking fails is kept but
// unusable until a later pool check manages it).
func (m *poolManager) adoptENI(ctx context.Context, e awsapi.ENI, now time.Time) error {
	cidr, err := m.subnetCIDR(ctx, e)
	if err != nil {
		return err
	}
	m.store.AddENI(datastore.ENI{
		ID: e.ID, MAC: e.MAC, DeviceNumber: e.DeviceIndex, Primary: e.DeviceIndex == 0,
		PrimaryIP: e.PrimaryIP, SubnetID: e.SubnetID, SubnetCIDR: cidr, AddedAt: now,
	})
	for _, ip := range e.SecondaryIPs {
		m.store.AddCIDR(e.ID, netip.PrefixFrom(ip, 32), now)
	}
	for _, p := range e.Prefixes {
		m.store.AddCIDR(e.ID, p, now)
	}
	usable := true
	if e.DeviceIndex == 0 && m.cfg.CustomNetworking {
		usable = false // custom networking: the primary ENI serves no pods
	}
	var setupErr error
	if e.DeviceIndex != 0 {
		if setupErr = m.setupENINetwork(e.MAC, e.PrimaryIP, cidr, e.DeviceIndex); setupErr != nil {
			usable = false
		}
	}
	if m.markIfExcluded(ctx, e.ID, e.SubnetID, e.DeviceIndex == 0) {
		usable = false
	}
	m.store.SetUsable(e.ID, usable)
	return setupErr
}

// setupENINetwork configures a secondary ENI's link, table and rule in the
// node namespace.
func (d *Daemon) setupENINetwork(mac string, primaryIP netip.Addr, subnet netip.Prefix, device int) error {
	if d.opts.NetNSPath == NoNetNS {
		return nil
	}
	err := netsetup.SetupENI(d.opts.NetNSPath, netsetup.ENI{MAC: mac, PrimaryIP: primaryIP, SubnetCIDR: subnet, DeviceNumber: device, MTU: d.cfg.ENIMTU})
	if err != nil {
		d.metrics.ipamdError("setupENINetwork")
		return fmt.Errorf("node networking of ENI %s (device %d): %w", mac, device, err)
	}
	return nil
}

func (d *Daemon) teardownENINetwork(e datastore.ENI) {
	if d.opts.NetNSPath == NoNetNS || e.DeviceNumber == 0 {
		return
	}
	if err := netsetup.TeardownENI(d.opts.NetNSPath, netsetup.ENI{MAC: e.MAC, PrimaryIP: e.PrimaryIP, SubnetCIDR: e.SubnetCIDR, DeviceNumber: e.DeviceNumber, MTU: d.cfg.ENIMTU}); err != nil {
		d.log.Warn("teardown of ENI networking failed", "eni", e.ID, "err", err)
	}
}

// ensureDeleteOnTermination sets DeleteOnTermination on a secondary ENI
// ipamd created (it carries the instance tag) that lacks it: an ipamd that
// died between attach and modify, or failed to free such an ENI, left it,
// and it would outlive the instance.
func (d *Daemon) ensureDeleteOnTermination(ctx context.Context, e awsapi.ENI) {
	if e.DeviceIndex == 0 || e.Tags[awsapi.TagInstanceID] == "" || e.DeleteOnTermination || e.AttachmentID == "" {
		return
	}
	if err := d.ec2.SetDeleteOnTermination(ctx, e.ID, e.AttachmentID); err != nil {
		d.log.Warn("cannot set DeleteOnTermination", "eni", e.ID, "err", err)
	}
}

// buildENITags is upstream's buildENITags: the instance id; with
// CLUSTER_NAME the cluster tag and eks:eni:owner=amazon-vpc-cni; then
// ADDITIONAL_ENI_TAGS, which win over the CNI's own values.
func (d *Daemon) buildENITags() map[string]string {
	tags := map[string]string{awsapi.TagInstanceID: d.identity.InstanceID}
	if d.cfg.ClusterName != "" {
		tags[awsapi.TagCluster] = d.cfg.ClusterName
		tags[awsapi.TagOwner] = awsapi.OwnerVPCCNI
	}
	maps.Copy(tags, d.cfg.AdditionalENITags)
	return tags
}

// tagManagedENI is upstream's TagENI: every managed ENI, the primary
// included, gets the tags of buildENITags that it lacks or carries with
// another value. Like upstream it tries five times, waiting 0.5 s doubling
// between tries (upstream adds up to 30% jitter), and returns the last
// error.
func (d *Daemon) tagManagedENI(ctx context.Context, e awsapi.ENI) error {
	changes := map[string]string{}
	for k, v := range d.buildENITags() {
		if cur, ok := e.Tags[k]; !ok || cur != v {
			changes[k] = v
		}
	}
	if len(changes) == 0 {
		return nil
	}
	d.log.Debug(fmt.Sprintf("Tagging ENI %s with missing tags: %v", e.ID, changes))
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := d.ec2.CreateTags(ctx, e.ID, changes)
		if err == nil {
			d.log.Debug(fmt.Sprintf("Successfully tagged ENI: %s", e.ID))
			return nil
		}
		d.log.Warn(fmt.Sprintf("Failed to tag the newly created ENI %s:", e.ID), "err", err)
		if attempt == tagTries {
			return err
		}
		if serr := clock.Sleep(ctx, d.sleep, wait); serr != nil {
			return serr
		}
		wait = min(2*wait, time.Minute) // upstream's maxENIBackoffDelay
	}
}

// tagTries is how many times TagENI calls CreateTags (upstream's
// retry.NWithBackoff(..., 5, ...)).
const tagTries = 5
