package ipamd

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/enilab/enilab/ipamd/config"
	"github.com/enilab/enilab/ipamd/datastore"
)

// IPv6 mode (ENABLE_IPv6=true, ENABLE_IPv4=false, ENABLE_PREFIX_DELEGATION=true):
// the primary ENI gets one /80 at start and every pod a /128 from it. No
// ENI is attached, no warm pool is kept, WARM_* and MINIMUM_IP_TARGET are
// ignored, nothing is reconciled or freed (upstream ipamd.go: "WARM and
// MAX ENI & IP/Prefix counts are no-op in IPv6 Prefix delegation mode").

// initIPv6 is upstream's nodeInit for IPv6: the primary ENI's /80
// (assignIPv6Prefix), then the checkpoint (ReadAllDataStores).
func (d *Daemon) initIPv6(ctx context.Context, cp datastore.Checkpointer) error {
	d.v6 = datastore.NewV6(datastore.Options{Cooldown: d.cfg.IPCooldown, Checkpoint: cp})
	p, err := d.assignIPv6Prefix(ctx, d.primary.ID)
	if err != nil {
		return fmt.Errorf("Failed to allocate IPv6 Prefixes to ENI: %w", err)
	}
	e := datastore.ENI{ID: d.primary.ID, MAC: d.primary.MAC, DeviceNumber: d.primary.DeviceNumber, Primary: true,
		SubnetID: d.primary.SubnetID, AddedAt: d.clock.Now()}
	if err := d.v6.SetPrefix(e, p, d.clock.Now()); err != nil {
		return err
	}
	saved, found, err := readCheckpoint(cp)
	if err != nil {
		return err
	}
	if found {
		// As upstream's ReadBackingStore, which writes the checkpoint
		// back only when it read one.
		d.restoreIPv6(saved)
		if err := d.v6.Save(); err != nil {
			return fmt.Errorf("%w", err)
		}
	}
	d.log.Info("IP pool manager (IPv6)", "instance", d.identity.InstanceID, "type", d.identity.InstanceType,
		"maxPods", d.maxPods, "eni", d.primary.ID, "ipv6Prefix", p)
	return nil
}

// assignIPv6Prefix is upstream's assignIPv6Prefix: EC2's prefixes of the
// ENI are read once; with none, one is assigned (AssignIpv6Addresses,
// Ipv6PrefixCount 1); with several, the first is used and none is freed.
func (d *Daemon) assignIPv6Prefix(ctx context.Context, eniID string) (netip.Prefix, error) {
	d.log.Debug(fmt.Sprintf("Assigning an IPv6Prefix for ENI: %s", eniID))
	ps, err := d.ec2.IPv6Prefixes(ctx, eniID)
	if err != nil {
		d.log.Error(fmt.Sprintf("assignIPv6Prefix; err: %s", err))
		return netip.Prefix{}, err
	}
	d.log.Debug(fmt.Sprintf("ENI %s has %v prefixe(s) attached", eniID, len(ps)))
	if len(ps) == 0 {
		d.log.Debug(fmt.Sprintf("No IPv6 Prefix(es) found for ENI: %s", eniID))
		if ps, err = d.ec2.AssignIPv6Prefix(ctx, eniID); err != nil {
			d.log.Error(fmt.Sprintf("Failed to allocate IPv6 Prefixes on ENI %v: %v", eniID, err))
			return netip.Prefix{}, err
		}
		if len(ps) == 0 {
			return netip.Prefix{}, fmt.Errorf("AssignIpv6Addresses on %s returned no prefix", eniID)
		}
		d.log.Debug(fmt.Sprintf("Successfully allocated an IPv6Prefix for ENI: %s", eniID))
	}
	return ps[0], nil
}

// restoreIPv6 re-applies the checkpoint's IPv6 entries, dropping those whose
// pod has no host veth, as restoreAssignments does in IPv4 mode.
func (d *Daemon) restoreIPv6(cp datastore.Checkpoint) {
	hasVeth, err := d.hostVeths()
	if err != nil {
		d.log.Warn("restore: cannot list the node's links; keeping every checkpoint entry", "err", err)
	}
	kept := 0
	for _, e := range cp.Allocations {
		ip, err := netip.ParseAddr(e.IPv6)
		if err != nil {
			d.log.Warn("restore: dropping checkpoint entry without an IPv6 address", "key", e.Key, "ipv4", e.IPv4)
			continue
		}
		pod := datastore.Pod{Name: e.Metadata.K8SPodName, Namespace: e.Metadata.K8SPodNamespace, Netns: e.Metadata.Netns}
		if hasVeth != nil && pod.Name != "" && pod.Namespace != "" && !hasVeth(pod.Namespace, pod.Name) {
			d.log.Warn(fmt.Sprintf("stale IP allocation for ID(%v): IPv4(%v), IPv6(%v) due to host-side veth not found for pod %v/%v",
				e.Key.ContainerID, "", e.IPv6, pod.Namespace, pod.Name))
			continue
		}
		if _, err := d.v6.AssignIP(e.Key, pod, ip, time.Unix(0, e.AllocationTimestamp)); err != nil {
			d.log.Warn("restore: dropping checkpoint entry", "key", e.Key, "ip", ip, "err", err)
			continue
		}
		kept++
	}
	for _, c := range cp.Cooling {
		if ip, err := netip.ParseAddr(c.IPv6); err == nil {
			d.v6.MarkCooling(ip, time.Unix(0, c.ReleasedAt))
		}
	}
	d.log.Info("restored assignments from checkpoint", "kept", kept, "inCheckpoint", len(cp.Allocations))
}

// vpcIPv6CIDRs reads the VPC's IPv6 CIDR blocks from IMDS, as upstream's
// GetVPCIPv6CIDRs does on every ADD in IPv6 mode.
func (d *Daemon) vpcIPv6CIDRs(ctx context.Context) ([]string, error) {
	text, err := d.imds.Get(ctx, "network/interfaces/macs/"+d.primary.MAC+"/vpc-ipv6-cidr-blocks")
	if err != nil {
		d.metrics.ipamdError("GetVPCIPv6CIDRBlocks")
		return nil, fmt.Errorf("get VPC IPv6 CIDR blocks: %w", err)
	}
	var out []string
	for _, f := range strings.Fields(text) {
		p, err := netip.ParsePrefix(f)
		if err != nil || !p.Addr().Is6() {
			return nil, fmt.Errorf("get VPC IPv6 CIDR blocks: IMDS returned %q", f)
		}
		out = append(out, p.Masked().String())
	}
	return out, nil
}

// checkIPv6Instance is upstream's isConfigValid on the instance type: IPv6
// needs prefix delegation, which needs a Nitro instance.
func (d *Daemon) checkIPv6Instance(instanceType string, prefixes bool) error {
	if prefixes {
		return nil
	}
	line := fmt.Sprintf(config.IPv6NonNitroMessage, instanceType)
	d.log.Error(line)
	return fmt.Errorf("ipamd: failed to validate configuration: %s", strings.TrimSpace(line))
}

// IPv6Prefix is the /80 pods get addresses from in IPv6 mode (invalid in
// IPv4 mode).
func (d *Daemon) IPv6Prefix() netip.Prefix {
	if d.v6 == nil {
		return netip.Prefix{}
	}
	return d.v6.Prefix()
}

// statusV6 is Status in IPv6 mode.
func (d *Daemon) statusV6() Status {
	n := d.v6.Assigned()
	return Status{
		InstanceID: d.identity.InstanceID, InstanceType: d.identity.InstanceType,
		MaxPods: d.maxPods, MaxENIs: d.maxENIs, ENIs: 1,
		TotalIPs: n, AssignedIPs: n, IPv6Prefix: d.v6.Prefix(),
	}
}

// eniInfosV6 is upstream's /v1/enis in IPv6 mode: the primary ENI with its
// /80 under IPv6Cidrs (IsPrefix, AddressFamily "6"), its pods' addresses
// in it; TotalIPs and AssignedIPs count the assigned addresses.
func (d *Daemon) eniInfosV6() eniInfosJSON {
	e, p := d.v6.ENI(), d.v6.Prefix()
	cj := cidrJSON{IsPrefix: true, AddressFamily: "6", IPAddresses: map[string]addressJSON{},
		Cidr: net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 128)}}
	as := d.v6.Assignments()
	for _, a := range as {
		cj.IPAddresses[a.IP.String()] = addressJSON{
			Address: a.IP.String(), IPAMKey: ipamKeyJSON{NetworkName: a.Key.NetworkName},
			IPAMMetadata: ipamMetadataJSON{K8SPodNamespace: a.Pod.Namespace, K8SPodName: a.Pod.Name},
			AssignedTime: a.AssignedAt,
		}
	}
	j := eniJSON{ID: e.ID, IsPrimary: true, DeviceNumber: e.DeviceNumber, RouteTableID: mainRouteTable, SubnetID: e.SubnetID,
		AvailableIPv4Cidrs: map[string]cidrJSON{}, IPv6Cidrs: map[string]cidrJSON{p.String(): cj}}
	return eniInfosJSON{TotalIPs: len(as), AssignedIPs: len(as), ENIs: map[string]eniJSON{e.ID: j}}
}
