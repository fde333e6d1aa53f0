package ipamd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/enilab/enilab/ipamd/config"
	"github.com/enilab/enilab/ipamd/netsetup"
)

// setupHostNetwork is nodeInit's SetupHostNetwork then
// CleanUpStaleAWSChains, in the node namespace. As upstream, it runs before
// the node's ENIs are described: a node whose host network cannot be set
// up makes no EC2 call.
func (d *Daemon) setupHostNetwork() error {
	d.log.Info("Setting up host network... ")
	var stale *netsetup.StaleChainsError
	if err := netsetup.SetupHost(d.opts.NetNSPath, d.hostNetwork(d.vpcCIDRs)); errors.As(err, &stale) {
		// As upstream: these chains do not affect the rules.
		d.log.Debug(fmt.Sprintf("Failed to clean up stale AWS chains: %v", stale.Err))
	} else if err != nil {
		return fmt.Errorf("host network setup: %w", err)
	}
	return nil
}

// externalServiceRules programs the external service CIDRs' rules, which
// upstream's configureIPRulesForPods does once the checkpoint is read; a
// failure is logged, not fatal.
func (d *Daemon) externalServiceRules() {
	ext, errs := config.ParseCIDRs(config.EnvExternalServiceCIDRs, d.cfg.ExternalServiceCIDRs)
	for _, e := range errs {
		d.log.Error(e)
	}
	if err := netsetup.UpdateExternalServiceRules(d.opts.NetNSPath, ext); err != nil {
		d.log.Warn("UpdateExternalServiceIpRules in nodeInit() failed", "err", err)
	}
}

// hostNetwork is the node-wide set-up for the given VPC CIDRs, from the
// primary ENI and networkutils' settings. The excluded CIDRs are parsed as
// upstream's parseCIDRString does, logging what it drops.
func (d *Daemon) hostNetwork(vpcCIDRs []netip.Prefix) netsetup.Host {
	exclude, errs := config.ParseCIDRs(config.EnvExcludeSNATCIDRs, d.cfg.ExcludeSNATCIDRs)
	for _, e := range errs {
		d.log.Error(e)
	}
	primaryIP := d.identity.PrivateIP
	if len(d.primary.IPs) > 0 {
		primaryIP = d.primary.IPs[0]
	}
	return netsetup.Host{
		PrimaryMAC: d.primary.MAC, PrimaryIP: primaryIP, VPCCIDRs: vpcCIDRs, MTU: d.cfg.ENIMTU,
		SNAT: netsetup.SNAT{
			External: d.cfg.ExternalSNAT, ExcludeCIDRs: exclude, Randomize: d.cfg.RandomizeSNAT,
			Connmark: d.cfg.Connmark, NodePortSupport: !d.cfg.NodePortSupportDisabled, VethPrefix: d.cfg.VethPrefix,
		},
		PodSGStrict: d.cfg.PodSGStrict(),
		IPv6:        d.cfg.EnableIPv6,
	}
}

// refreshVPCCIDRs is upstream's updateCIDRsRulesOnChange, run every
// VPCCIDRPeriod: it reads the VPC's CIDRs from IMDS and, when the set
// changed (a CIDR associated with the VPC or removed from it), updates the
// SNAT and connmark rules so the new CIDR is not SNATed. The new set is
// kept even when the update fails; the next change retries.
func (m *poolManager) refreshVPCCIDRs(ctx context.Context) {
	text, err := m.vpcIPv4CIDRs(ctx)
	if err != nil {
		m.log.Warn(fmt.Sprintf("skipping periodic update to VPC CIDRs due to error: %v", err))
		return
	}
	cidrs := make([]netip.Prefix, 0, len(text))
	for _, c := range text {
		cidrs = append(cidrs, netip.MustParsePrefix(c)) // vpcIPv4CIDRs parsed them
	}
	if sameCIDRSet(cidrs, m.vpcCIDRs) {
		return
	}
	if m.opts.NetNSPath != NoNetNS {
		if err := netsetup.UpdateHostSNATRules(m.opts.NetNSPath, m.hostNetwork(cidrs)); err != nil {
			m.log.Warn(fmt.Sprintf("unable to update host iptables rules for VPC CIDRs due to error: %v", err))
		}
	}
	m.vpcCIDRs = cidrs
}

func sameCIDRSet(a, b []netip.Prefix) bool {
	has := func(s []netip.Prefix) map[netip.Prefix]bool {
		m := map[netip.Prefix]bool{}
		for _, p := range s {
			m[p.Masked()] = true
		}
		return m
	}
	ha, hb := has(a), has(b)
	if len(ha) != len(hb) {
		return false
	}
	for p := range ha {
		if !hb[p] {
			return false
		}
	}
	return true
}
