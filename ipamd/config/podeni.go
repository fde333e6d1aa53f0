package config

import "github.com/enilab/enilab/internal/datapath"

// EnvEnablePodENI is upstream's switch for security groups for pods: the
// VPC resource controller attaches a trunk ENI, and ipamd hands pods with
// a vpc.amazonaws.com/pod-eni annotation their branch ENI.
const EnvEnablePodENI = "ENABLE_POD_ENI"

// PodSGStrict says whether ENABLE_POD_ENI is on in strict mode
// (datapath.EnvPodSGEnforcing anything but standard, upstream's
// sgpp.LoadEnforcingModeFromEnv), the case in which SetupHostNetwork moves
// the local rule from priority 0 to 20 so a branch pod's traffic to the
// node's own addresses also leaves by its VLAN.
func (c Config) PodSGStrict() bool {
	return c.EnablePodENI && datapath.EnforcingMode(c.PodSGEnforcingMode) != datapath.EnforcingStandard
}
