package ipamd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/datastore"
	"github.com/enilab/enilab/ipamd/netsetup"
)

// restore rebuilds the datastore: EC2's DescribeNetworkInterfaces is the
// truth about ENIs and addresses; the checkpoint says which pod holds
// which; entries whose pod's host veth is gone are dropped.
func (d *Daemon) restore(ctx context.Context, cp datastore.Checkpointer) error {
	now := d.clock.Now()
	enis, err := d.ec2.AttachedENIs(ctx, d.identity.InstanceID)
	if err != nil {
		return fmt.Errorf("ipamd: list attached ENIs: %w", err)
	}
	if err := d.loadSubnets(ctx); err != nil {
		d.log.Warn("DescribeSubnets failed; subnet CIDRs come from IMDS", "err", err)
	}
	for _, e := range enis {
		if e.NetworkCard != d.limits.DefaultNetworkCard {
			continue
		}
		if e.Tags[awsapi.TagNoManage] == "true" && e.DeviceIndex != 0 {
			d.log.Info("ENI is tagged no_manage; leaving it alone", "eni", e.ID)
			d.unmanaged[e.ID] = true
			continue
		}
		if err := d.adoptENI(ctx, e, now); err != nil {
			d.log.Error("restore: cannot set up ENI", "eni", e.ID, "err", err)
			d.metrics.ipamdError("restoreSetupENI")
		}
		d.tagManagedENI(ctx, e)
		d.ensureDeleteOnTermination(ctx, e)
	}

	saved, found, err := cp.Load()
	switch {
	case errors.Is(err, datastore.ErrCorruptCheckpoint):
		d.log.Error("checkpoint is corrupt or truncated; ignoring it and rebuilding the pool from EC2 (assignments of running pods are lost until they are re-added)",
			"path", d.opts.CheckpointPath, "err", err)
		d.metrics.ipamdError("checkpointCorrupt")
		if n, err := d.recoverFromHost(); err != nil {
			d.log.Error("could not rebuild assignments from the node's pod routes", "err", err)
		} else if d.opts.NetNSPath != NoNetNS {
			d.log.Info("rebuilt assignments from the node's pod routes", "pods", n)
		}
	case err != nil:
		return fmt.Errorf("ipamd: %w", err)
	case !found:
		d.log.Info("no checkpoint; starting with no assignments", "path", d.opts.CheckpointPath)
	default:
		d.restoreAssignments(saved)
	}
	d.dropOtherKind(ctx)
	if err := d.store.Save(); err != nil {
		return fmt.Errorf("ipamd: %w", err)
	}
	return nil
}

// restoreAssignments re-applies the checkpoint's assignments to the
// addresses EC2 says the node has.
func (d *Daemon) restoreAssignments(cp datastore.Checkpoint) {
	kept := 0
	for _, e := range cp.Allocations {
		ip, _ := netip.ParseAddr(e.IPv4)
		pod := datastore.Pod{Name: e.Metadata.K8SPodName, Namespace: e.Metadata.K8SPodNamespace, Netns: e.Metadata.Netns}
		if gone, err := d.podGone(pod); err != nil {
			d.log.Warn("restore: cannot check the pod's host veth; keeping its address", "pod", pod.Namespace+"/"+pod.Name, "ip", ip, "err", err)
		} else if gone {
			d.log.Info("restore: pod's host veth is gone; releasing its address", "pod", pod.Namespace+"/"+pod.Name, "ip", ip, "key", e.Key)
			continue
		}
		if _, err := d.store.AssignIP(e.Key, pod, ip, time.Unix(0, e.AllocationTimestamp)); err != nil {
			d.log.Warn("restore: dropping checkpoint entry", "key", e.Key, "ip", ip, "err", err)
			continue
		}
		kept++
	}
	for _, c := range cp.Cooling {
		if ip, err := netip.ParseAddr(c.IPv4); err == nil {
			d.store.MarkCooling(ip, time.Unix(0, c.ReleasedAt))
		}
	}
	d.log.Info("restored assignments from checkpoint", "kept", kept, "inCheckpoint", len(cp.Allocations))
}

// podGone reports whether the pod's host veth no longer exists.
func (d *Daemon) podGone(pod datastore.Pod) (bool, error) {
	if pod.Name == "" {
		return false, nil
	}
	name := datapath.HostVethName(d.cfg.VethPrefix, pod.Namespace, pod.Name)
	var exists bool
	var err error
	switch {
	case d.opts.VethExists != nil:
		exists, err = d.opts.VethExists(name)
	case d.opts.NetNSPath == NoNetNS:
		return false, nil
	default:
		exists, err = netsetup.HostVethExists(d.opts.NetNSPath, name)
	}
	return !exists, err
}

// dropOtherKind gives back unused /32s in prefix mode and unused prefixes
// in secondary-IP mode (left over from a mode switch), as upstream does.
func (d *Daemon) dropOtherKind(ctx context.Context) {
	now := d.clock.Now()
	wantBits := 32
	if d.cfg.EnablePrefixDelegation {
		wantBits = 28
	}
	for _, e := range d.store.ENIs(now) {
		var ips []netip.Addr
		var prefixes []netip.Prefix
		for _, c := range d.store.FreeableCIDRs(e.ID, now) {
			if c.Bits() == wantBits {
				continue
			}
			if _, err := d.store.RemoveCIDR(e.ID, c, false, now); err != nil {
				continue
			}
			if c.Bits() == 32 {
				ips = append(ips, c.Addr())
			} else {
				prefixes = append(prefixes, c)
			}
			d.recentlyFreed[c.String()] = now
		}
		if err := d.ec2.Unassign(ctx, e.ID, ips, prefixes); err != nil {
			d.log.Warn("cannot give back addresses of the other mode", "eni", e.ID, "err", err)
		}
	}
}

func (d *Daemon) loadSubnets(ctx context.Context) error {
	vpc := d.primary.VPCID
	if vpc == "" {
		return nil
	}
	subnets, err := d.ec2.Subnets(ctx, vpc)
	if err != nil {
		return err
	}
	for _, s := range subnets {
		if s.CIDR.IsValid() {
			d.subnetCIDRs[s.ID] = s.CIDR
		}
	}
	return nil
}

// subnetCIDR returns a subnet's CIDR from the cache, IMDS or EC2.
func (d *Daemon) subnetCIDR(ctx context.Context, e awsapi.ENI) (netip.Prefix, error) {
	if c, ok := d.subnetCIDRs[e.SubnetID]; ok {
		return c, nil
	}
	if m, err := d.imds.ENI(ctx, e.MAC); err == nil && m.SubnetCIDR.IsValid() {
		d.subnetCIDRs[e.SubnetID] = m.SubnetCIDR
		return m.SubnetCIDR, nil
	}
	if err := d.loadSubnets(ctx); err != nil {
		return netip.Prefix{}, err
	}
	if c, ok := d.subnetCIDRs[e.SubnetID]; ok {
		return c, nil
	}
	return netip.Prefix{}, fmt.Errorf("subnet %s of ENI %s: CIDR unknown", e.SubnetID, e.ID)
}

// adoptENI records an attached ENI and its addresses, setting up its node
// networking first (a secondary ENI whose networking fails is kept but
// unusable until a later pool check manages it).
func (d *Daemon) adoptENI(ctx context.Context, e awsapi.ENI, now time.Time) error {
	cidr, err := d.subnetCIDR(ctx, e)
	if err != nil {
		return err
	}
	d.store.AddENI(datastore.ENI{
		ID: e.ID, MAC: e.MAC, DeviceNumber: e.DeviceIndex, Primary: e.DeviceIndex == 0,
		PrimaryIP: e.PrimaryIP, SubnetID: e.SubnetID, SubnetCIDR: cidr, AddedAt: now,
	})
	for _, ip := range e.SecondaryIPs {
		d.store.AddCIDR(e.ID, netip.PrefixFrom(ip, 32), now)
	}
	for _, p := range e.Prefixes {
		d.store.AddCIDR(e.ID, p, now)
	}
	usable := true
	if e.DeviceIndex == 0 && d.cfg.CustomNetworking {
		usable = false // custom networking: the primary ENI serves no pods
	}
	var setupErr error
	if e.DeviceIndex != 0 {
		if setupErr = d.setupENINetwork(e.MAC, e.PrimaryIP, cidr, e.DeviceIndex); setupErr != nil {
			usable = false
		}
	}
	d.store.SetUsable(e.ID, usable)
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

// tagManagedENI adds the tags upstream puts on every ENI it manages (the
// instance id, and the cluster name when set) where they are missing.
func (d *Daemon) tagManagedENI(ctx context.Context, e awsapi.ENI) {
	want := map[string]string{awsapi.TagInstanceID: d.identity.InstanceID}
	if d.cfg.ClusterName != "" {
		want[awsapi.TagCluster] = d.cfg.ClusterName
	}
	missing := map[string]string{}
	for k, v := range want {
		if _, ok := e.Tags[k]; !ok {
			missing[k] = v
		}
	}
	if len(missing) == 0 {
		return
	}
	if err := d.ec2.CreateTags(ctx, e.ID, missing); err != nil {
		d.log.Warn("cannot tag managed ENI", "eni", e.ID, "err", err)
	}
}
