package config

// EnvEnablePodENI is upstream's switch for security groups for pods: the
// VPC resource controller attaches a trunk ENI, and ipamd hands pods with
// a vpc.amazonaws.com/pod-eni annotation their branch ENI.
const EnvEnablePodENI = "ENABLE_POD_ENI"

// EnvPodSGEnforcingMode is how branch pods' traffic is routed: standard,
// or strict (anything else, the default), in which networkutils moves the
// local table's rule from priority 0 to 20 so a branch pod's traffic to
// the node's own addresses also leaves by its VLAN (upstream's
// sgpp.LoadEnforcingModeFromEnv and SetupHostNetwork).
const EnvPodSGEnforcingMode = "POD_SECURITY_GROUP_ENFORCING_MODE"

// PodSGStrict says whether ENABLE_POD_ENI is on in strict mode, the case
// in which SetupHostNetwork moves the local rule.
func (c Config) PodSGStrict() bool {
	return c.EnablePodENI && c.PodSGEnforcingMode != "standard"
}
