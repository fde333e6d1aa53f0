package nodelab

import (
	"fmt"
	"log/slog"
	"maps"

	"github.com/enilab/enilab/fakeec2/chaos"
	"github.com/enilab/enilab/ipamd/config"
	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
)

// ChaosConfig turns the scenario's ec2 section into the chaos layer's
// configuration (without clock, trace or replay).
func ChaosConfig(sc *scenario.Scenario) (chaos.Config, error) {
	cfg := chaos.Config{Seed: sc.Seed, Latency: map[string]chaos.Latency{}}
	switch sc.EC2.Throttle {
	case "none":
		cfg.Throttle = chaos.ThrottleNone
	case "custom":
		b := map[string]chaos.Bucket{}
		for a, v := range sc.EC2.Buckets {
			b[a] = chaos.Bucket{Capacity: v.Capacity, Refill: v.Refill}
		}
		cfg.Throttle = chaos.ThrottleCustom(b)
	default:
		cfg.Throttle = chaos.ThrottleAWS
	}
	for a, l := range sc.EC2.Latency {
		cfg.Latency[a] = chaos.Latency{Min: l.Min, Max: l.Max}
	}
	if err := cfg.Validate(); err != nil {
		return chaos.Config{}, fmt.Errorf("ec2: %w", err)
	}
	return cfg, nil
}

// LabConfig turns the scenario into the node package's lab configuration.
func LabConfig(sc *scenario.Scenario, prefix string, ic *chaos.Controller, logger *slog.Logger) node.LabConfig {
	cfg := node.LabConfig{
		Prefix:      prefix,
		Seed:        sc.Seed,
		TimeScale:   sc.TimeScale,
		VPC:         node.VPCSpec{CIDR: sc.VPC.CIDR.String(), IPv6: sc.VPC.IPv6},
		IMDSLag:     sc.EC2.IMDSLag,
		DescribeLag: sc.EC2.DescribeLag,
		IPAMDEnv:    map[string]string{},
		Logger:      logger,
		Datapath:    sc.Datapath,
	}
	if ic != nil {
		cfg.Interceptor = ic
	}
	for _, c := range sc.VPC.SecondaryCIDRs {
		cfg.VPC.SecondaryCIDRs = append(cfg.VPC.SecondaryCIDRs, c.String())
	}
	for _, s := range sc.VPC.Subnets {
		cfg.Subnets = append(cfg.Subnets, node.SubnetSpec{ID: s.ID, CIDR: s.CIDR.String(), AZ: s.AZ, Tags: s.Tags, Public: s.Public, NATGateway: s.NATGateway})
	}
	for _, r := range sc.VPC.Reservations {
		cfg.Reservations = append(cfg.Reservations, node.ReservationSpec{Subnet: r.Subnet, CIDR: r.CIDR.String(), Type: r.Type})
	}
	maps.Copy(cfg.IPAMDEnv, sc.IPAMDEnv)
	for _, c := range sc.ENIConfigs {
		cfg.ENIConfigs = append(cfg.ENIConfigs, config.ENIConfig{Name: c.Name, Subnet: c.Subnet, SecurityGroups: c.SecurityGroups})
	}
	return cfg
}

// PluginPath turns a `cni: {plugin: …}` choice into the node package's
// plugin path: "" for enilab's own plugin (node.OwnPlugin), upstream's
// built aws-cni for upstream, else the path itself.
func PluginPath(choice string) (string, error) {
	switch choice {
	case "", scenario.CNIPluginEnilab:
		return "", nil
	case scenario.CNIPluginUpstream:
		p, err := node.UpstreamPlugin()
		if err != nil {
			return "", fmt.Errorf("cni plugin %s: %w", choice, err)
		}
		return p, nil
	}
	return choice, nil
}
