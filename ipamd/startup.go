package ipamd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/internal/ec2limits"
	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/config"
	"github.com/enilab/enilab/ipamd/datastore"
	"github.com/enilab/enilab/ipamd/pool"
)

// waitForIMDS reads the identity document, retrying with backoff: right
// after boot (or a lab's node start) IMDS may not answer yet.
func (d *Daemon) waitForIMDS(ctx context.Context) error {
	wait := 200 * time.Millisecond
	var err error
	for attempt := 1; attempt <= 8; attempt++ {
		d.identity, err = d.imds.Identity(ctx)
		if err == nil {
			return nil
		}
		d.log.Warn("waiting for IMDS", "attempt", attempt, "err", err)
		if serr := clock.Sleep(ctx, d.sleep, wait); serr != nil {
			break
		}
		wait = min(wait*2, 5*time.Second)
	}
	return fmt.Errorf("instance metadata service unreachable: %w", err)
}

// init learns the instance and restores the datastore.
func (d *Daemon) init(ctx context.Context) error {
	defer d.metrics.inProgress("nodeInit")()
	id := d.identity
	lim, err := d.instanceLimits(ctx, id.InstanceType)
	if err != nil {
		return err
	}
	d.limits = lim
	if d.cfg.EnableIPv6 {
		if err := d.checkIPv6Instance(id.InstanceType, lim.SupportsPrefixes()); err != nil {
			return err
		}
	}
	if d.cfg.EnablePrefixDelegation && !lim.SupportsPrefixes() {
		// Upstream's isConfigValid (IPv4): a warning, then secondary-IP mode.
		d.log.Warn(fmt.Sprintf("Prefix delegation is not supported on non-nitro instance %s hence falling back to default (secondary IP) mode", id.InstanceType))
		d.cfg.EnablePrefixDelegation = false
	}
	d.maxENIs = lim.MaxENIs
	if d.cfg.MaxENI >= 1 && d.cfg.MaxENI < d.maxENIs {
		d.maxENIs = d.cfg.MaxENI
	}
	d.maxPods = d.opts.MaxPods
	if d.maxPods <= 0 {
		d.maxPods = pool.MaxPods(lim.MaxENIs, lim.IPv4PerENI, lim.VCPUs, d.cfg.CustomNetworking, d.cfg.EnablePrefixDelegation)
	}
	d.params = pool.Params{
		WarmENITarget: d.cfg.WarmENITarget, WarmIPTarget: d.cfg.WarmIPTarget, MinimumIPTarget: d.cfg.MinimumIPTarget,
		WarmPrefixTarget: d.cfg.WarmPrefixTarget, PrefixMode: d.cfg.EnablePrefixDelegation,
		SlotsPerENI: lim.IPv4PerENI - 1, MaxPods: d.maxPods,
	}

	mac, err := d.imds.PrimaryMAC(ctx)
	if err != nil {
		return fmt.Errorf("primary MAC: %w", err)
	}
	if d.primary, err = d.imds.ENI(ctx, mac); err != nil {
		return fmt.Errorf("primary ENI %s: %w", mac, err)
	}
	d.vpcCIDRs = d.primary.VPCCIDRs
	d.pm.subnetCIDRs[d.primary.SubnetID] = d.primary.SubnetCIDR
	if d.cfg.CustomNetworking {
		if err := d.selectENIConfig(); err != nil {
			return err
		}
	}

	// As upstream's nodeInit: the host network first, then the ENIs
	// (restore), and only then the checkpoint (readCheckpoint): a
	// corrupt one fails start-up after the EC2 calls, not before.
	if d.opts.NetNSPath != NoNetNS {
		if err := d.setupHostNetwork(); err != nil {
			return err
		}
	}
	cp := datastore.File{Path: d.opts.CheckpointPath}
	if d.cfg.EnableIPv6 {
		d.store = datastore.New(datastore.Options{Cooldown: d.cfg.IPCooldown})
		if err := d.initIPv6(ctx, cp); err != nil {
			return err
		}
		return d.pm.refreshSecurityGroups(ctx)
	}
	d.store = datastore.New(datastore.Options{Cooldown: d.cfg.IPCooldown, Checkpoint: cp})
	if err := d.pm.restore(ctx, cp); err != nil {
		return err
	}
	d.pm.cleanupExcludedENIs(ctx)
	if d.opts.NetNSPath != NoNetNS {
		d.externalServiceRules()
	}
	if err := d.pm.refreshSecurityGroups(ctx); err != nil {
		return err
	}
	d.log.Info("IP pool manager", "instance", id.InstanceID, "type", id.InstanceType, "maxPods", d.maxPods,
		"maxENIs", d.maxENIs, "ipv4PerENI", lim.IPv4PerENI, "warmIPTarget", d.cfg.WarmIPTarget,
		"warmPrefixTarget", d.cfg.WarmPrefixTarget, "warmENITarget", d.cfg.WarmENITarget, "minimumIPTarget", d.cfg.MinimumIPTarget,
		"prefixDelegation", d.cfg.EnablePrefixDelegation, "customNetworking", d.cfg.CustomNetworking)
	d.pm.updateGauges()
	return nil
}

// instanceLimits reads the type's limits from the built-in table and asks
// DescribeInstanceTypes only for a type the table lacks (upstream's
// fetchInstanceTypeLimits over pkg/vpc's generated table).
func (d *Daemon) instanceLimits(ctx context.Context, name string) (awsapi.InstanceLimits, error) {
	if t, ok := ec2limits.Lookup(name); ok {
		return awsapi.InstanceLimits{MaxENIs: t.MaxENIs, IPv4PerENI: t.IPv4PerENI, Hypervisor: string(t.Hypervisor),
			BareMetal: t.BareMetal, DefaultNetworkCard: t.DefaultNetworkCard, VCPUs: t.VCPUs}, nil
	}
	lim, err := d.ec2.DescribeInstanceType(ctx, name)
	if err != nil {
		return lim, fmt.Errorf("limits of instance type %q: %w", name, err)
	}
	return lim, nil
}

// selectENIConfig records the node's ENIConfig at start-up.
func (d *Daemon) selectENIConfig() error {
	d.eniCfgName = d.eniConfigName()
	c, err := d.nodeENIConfig()
	if err != nil {
		return err
	}
	d.eniConfig = &c
	return nil
}

// eniConfigName is upstream's GetNodeSpecificENIConfigName: the node label
// vpc.amazonaws.com/externalEniConfig, else the annotation named by
// ENI_CONFIG_ANNOTATION_DEF, else the label named by ENI_CONFIG_LABEL_DEF,
// else "default".
func (d *Daemon) eniConfigName() string {
	if name, ok := d.opts.NodeLabels[config.ExternalENIConfigLabel]; ok {
		return name
	}
	if name, ok := d.opts.NodeAnnotations[d.cfg.ENIConfigAnnotationDef]; ok {
		return name
	}
	if name, ok := d.opts.NodeLabels[d.cfg.ENIConfigLabelDef]; ok {
		return name
	}
	return config.DefaultENIConfigName
}

// nodeENIConfig reads the node's ENIConfig as upstream's MyENIConfig does,
// at start-up and again for every new ENI.
func (d *Daemon) nodeENIConfig() (config.ENIConfig, error) {
	name := d.eniConfigName()
	d.log.Info(fmt.Sprintf("Found ENI Config Name: %s", name))
	for _, c := range d.opts.ENIConfigs {
		if c.Name == name {
			return c, nil
		}
	}
	var names []string
	for _, c := range d.opts.ENIConfigs {
		names = append(names, c.Name)
	}
	return config.ENIConfig{}, fmt.Errorf("%s=true but no ENIConfig named %q (the value of node label %s, annotation %s or label %s, or %q when the node has none); ENIConfigs known: %v (set %s=topology.kubernetes.io/zone to select ENIConfigs by zone)",
		config.EnvCustomNetwork, name, config.ExternalENIConfigLabel, d.cfg.ENIConfigAnnotationDef, d.cfg.ENIConfigLabelDef, config.DefaultENIConfigName, names, config.EnvENIConfigLabelDef)
}

// readCheckpoint reads the checkpoint as upstream's
// DataStore.ReadBackingStore does: a missing file is a new node (found
// false); one that exists but cannot be read fails start-up (nodeInit
// returns the error and aws-node exits), with upstream's wording.
func readCheckpoint(cp datastore.Checkpointer) (datastore.Checkpoint, bool, error) {
	saved, found, err := cp.Load()
	switch {
	case err == nil:
		return saved, found, nil
	case errors.Is(err, datastore.ErrCheckpointVersion):
		return saved, false, fmt.Errorf("failed ipam state recovery due to %w", err)
	default:
		return saved, false, fmt.Errorf("failed ipam state recovery from backing store: %w", err)
	}
}
