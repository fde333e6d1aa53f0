// Package config is ipamd's configuration: the upstream environment variable
// names and defaults, their parser, and the ENIConfig custom networking reads.
// It does no I/O and imports nothing of the daemon, so the scenario parser
// (enilab validate) checks ipamd.env with exactly the rules ipamd applies.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/enilab/enilab/internal/datapath"
)

// Environment variable names, exactly as the upstream aws-node DaemonSet
// spells them, so a user's manifest settings carry over to the lab.
const (
	EnvWarmENITarget          = "WARM_ENI_TARGET"
	EnvWarmIPTarget           = "WARM_IP_TARGET"
	EnvMinimumIPTarget        = "MINIMUM_IP_TARGET"
	EnvWarmPrefixTarget       = "WARM_PREFIX_TARGET"
	EnvEnablePrefixDelegation = "ENABLE_PREFIX_DELEGATION"
	EnvMaxENI                 = "MAX_ENI"
	EnvCustomNetwork          = "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"
	EnvENIConfigLabelDef      = "ENI_CONFIG_LABEL_DEF"
	EnvENIConfigAnnotationDef = "ENI_CONFIG_ANNOTATION_DEF"
	EnvEnableSubnetDiscovery  = "ENABLE_SUBNET_DISCOVERY"
	EnvIPCooldownPeriod       = "IP_COOLDOWN_PERIOD"
	EnvDisableLeakedENI       = "DISABLE_LEAKED_ENI_CLEANUP"
	EnvENIMTU                 = "AWS_VPC_ENI_MTU"
	EnvPodMTU                 = "POD_MTU"
	EnvVethPrefix             = "AWS_VPC_K8S_CNI_VETHPREFIX"
	EnvExternalSNAT           = "AWS_VPC_K8S_CNI_EXTERNALSNAT"
	EnvExcludeSNATCIDRs       = "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS"
	EnvRandomizeSNAT          = "AWS_VPC_K8S_CNI_RANDOMIZESNAT"
	EnvConnmark               = "AWS_VPC_K8S_CNI_CONNMARK"
	EnvNodePortSupport        = "AWS_VPC_CNI_NODE_PORT_SUPPORT"
	EnvExternalServiceCIDRs   = "AWS_EXTERNAL_SERVICE_CIDRS"
	EnvClusterName            = "CLUSTER_NAME"
	EnvAdditionalENITags      = "ADDITIONAL_ENI_TAGS"
	EnvLogLevel               = "AWS_VPC_K8S_CNI_LOGLEVEL"
)

// DefaultENIConfigLabelDef is the node label upstream reads the ENIConfig
// name from when ENI_CONFIG_LABEL_DEF is unset. Labs that select ENIConfigs
// by zone set ENI_CONFIG_LABEL_DEF=topology.kubernetes.io/zone, as EKS users do.
const DefaultENIConfigLabelDef = "k8s.amazonaws.com/eniConfig"

// DefaultENIConfigAnnotationDef is the node annotation upstream reads the
// ENIConfig name from (before the label) when ENI_CONFIG_ANNOTATION_DEF is unset.
const DefaultENIConfigAnnotationDef = "k8s.amazonaws.com/eniConfig"

// ExternalENIConfigLabel, when a node carries it, names the node's ENIConfig
// before any annotation or label (upstream's externalEniConfigLabel).
const ExternalENIConfigLabel = "vpc.amazonaws.com/externalEniConfig"

// DefaultENIConfigName is the ENIConfig used when the node has no label
// naming one (upstream's "default").
const DefaultENIConfigName = "default"

// ENIConfig is the lab's stand-in for upstream's ENIConfig custom resource:
// with custom networking, new ENIs of a node selecting Name use Subnet and
// SecurityGroups (empty = the primary ENI's groups).
type ENIConfig struct {
	Name           string   `json:"name"`
	Subnet         string   `json:"subnet"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
}

// Config is ipamd's tuning, read from the upstream environment variables by
// FromEnv. The periods are lab time, so a lab running on a scaled
// clock scales them with everything else; zero periods take the defaults.
type Config struct {
	WarmENITarget    int
	WarmIPTarget     int // 0 = unset
	MinimumIPTarget  int // 0 = unset
	WarmPrefixTarget int
	MaxENI           int // < 1 (0, -1) = no cap beyond the instance type's, as upstream

	EnablePrefixDelegation bool
	// EnableIPv6 is ENABLE_IPv6; DisableIPv4 is ENABLE_IPv4=false (the
	// manifest's default is true, so the zero Config is IPv4 mode).
	EnableIPv6              bool
	DisableIPv4             bool
	CustomNetworking        bool
	EnableSubnetDiscovery   bool
	DisableLeakedENICleanup bool
	ExternalSNAT            bool
	// EnablePodENI is ENABLE_POD_ENI: security groups for pods.
	EnablePodENI bool
	// PodSGEnforcingMode is POD_SECURITY_GROUP_ENFORCING_MODE as set
	// ("" unset: strict); see PodSGStrict.
	PodSGEnforcingMode string
	// NodePortSupportDisabled is AWS_VPC_CNI_NODE_PORT_SUPPORT=false
	// (upstream's default is true, so the zero Config has it on).
	NodePortSupportDisabled bool

	ENIConfigLabelDef      string
	ENIConfigAnnotationDef string
	VethPrefix             string
	ClusterName            string
	LogLevel               string
	// ExcludeSNATCIDRs is AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS as given;
	// AddNetwork parses it on every ADD, as upstream does.
	ExcludeSNATCIDRs string
	// ExternalServiceCIDRs is AWS_EXTERNAL_SERVICE_CIDRS as given.
	ExternalServiceCIDRs string
	// RandomizeSNAT is AWS_VPC_K8S_CNI_RANDOMIZESNAT: SNATRandomPRNG
	// (the default), SNATRandomHash or SNATSequential.
	RandomizeSNAT string
	// Connmark is AWS_VPC_K8S_CNI_CONNMARK, the mark of connections that
	// arrived through the primary ENI (DefaultConnmark, 0x80).
	Connmark uint32

	IPCooldown time.Duration
	ENIMTU     int
	PodMTU     int

	AdditionalENITags map[string]string

	// Warnings are the settings FromEnv ignored or replaced as upstream
	// does (the daemon logs each at start-up with upstream's line).
	Warnings []Warning

	PoolCheckPeriod time.Duration // 5 s: how often the warm pool is checked
	ReconcilePeriod time.Duration // 60 s: how often the datastore is compared with EC2
	DecreaseGap     time.Duration // 30 s: minimum time between two pool decreases
	ENIMinAge       time.Duration // 60 s: an ENI younger than this is never freed
	SubnetPause     time.Duration // 120 s: no allocation after a subnet-exhaustion error
	LeakScanPeriod  time.Duration // 1 h: how often leaked aws-K8S- ENIs are looked for
	// LeakedENIMinAge protects ENIs that another node has just created and
	// not yet attached (upstream: 5 minutes since the createdAt tag).
	LeakedENIMinAge time.Duration
	// VPCCIDRPeriod is how often the VPC's CIDRs are read again and the
	// SNAT rules updated when they changed (upstream's
	// updateCIDRsRulesOnChange under wait.Forever, 30 s).
	VPCCIDRPeriod time.Duration
	// SGRefreshPeriod is how often the primary ENI's security groups are
	// read again and, when they changed, given to every managed ENI
	// (upstream's RefreshSGIDs under wait.Forever, 30 s).
	SGRefreshPeriod time.Duration
}

// Default periods (lab time).
const (
	DefaultPoolCheckPeriod = 5 * time.Second
	DefaultReconcilePeriod = 60 * time.Second
	DefaultDecreaseGap     = 30 * time.Second
	DefaultENIMinAge       = 60 * time.Second
	DefaultSubnetPause     = 120 * time.Second
	DefaultLeakScanPeriod  = time.Hour
	DefaultLeakedENIMinAge = 5 * time.Minute
	DefaultIPCooldown      = 30 * time.Second
	DefaultMTU             = 9001
	DefaultVPCCIDRPeriod   = 30 * time.Second
	DefaultSGRefreshPeriod = 30 * time.Second
)

// DefaultConfig is what FromEnv returns for an empty environment.
func Default() Config {
	c := Config{
		WarmENITarget:          1,
		WarmPrefixTarget:       1,
		MaxENI:                 -1,
		EnableSubnetDiscovery:  true,
		ENIConfigLabelDef:      DefaultENIConfigLabelDef,
		ENIConfigAnnotationDef: DefaultENIConfigAnnotationDef,
		VethPrefix:             "eni",
		LogLevel:               "DEBUG",
		IPCooldown:             DefaultIPCooldown,
		ENIMTU:                 DefaultMTU,
		PodMTU:                 DefaultMTU,
	}
	c.SetDefaults()
	return c
}

// SetDefaults fills the zero fields that have no meaningful zero value, so a
// Config built in code (zero periods, say) behaves as one read by FromEnv.
func (c *Config) SetDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.PoolCheckPeriod, DefaultPoolCheckPeriod)
	def(&c.ReconcilePeriod, DefaultReconcilePeriod)
	def(&c.DecreaseGap, DefaultDecreaseGap)
	def(&c.ENIMinAge, DefaultENIMinAge)
	def(&c.SubnetPause, DefaultSubnetPause)
	def(&c.LeakScanPeriod, DefaultLeakScanPeriod)
	def(&c.LeakedENIMinAge, DefaultLeakedENIMinAge)
	def(&c.VPCCIDRPeriod, DefaultVPCCIDRPeriod)
	def(&c.SGRefreshPeriod, DefaultSGRefreshPeriod)
	if c.RandomizeSNAT == "" {
		c.RandomizeSNAT = SNATRandomPRNG
	}
	if c.Connmark == 0 {
		c.Connmark = DefaultConnmark
	}
	if c.ENIMTU == 0 {
		c.ENIMTU = DefaultMTU
	}
	if c.PodMTU == 0 {
		c.PodMTU = c.ENIMTU
	}
	if c.VethPrefix == "" {
		c.VethPrefix = "eni"
	}
	if c.ENIConfigLabelDef == "" {
		c.ENIConfigLabelDef = DefaultENIConfigLabelDef
	}
	if c.ENIConfigAnnotationDef == "" {
		c.ENIConfigAnnotationDef = DefaultENIConfigAnnotationDef
	}
	if c.LogLevel == "" {
		c.LogLevel = "DEBUG"
	}
}

// FromEnv reads the upstream environment variables through lookup
// (os.LookupEnv, or a lab's map). Unset variables take upstream defaults;
// the error names every variable whose value is unusable.
func FromEnv(lookup func(string) (string, bool)) (Config, error) {
	c := Default()
	r := &envReader{lookup: lookup}
	r.fallbackInt(EnvWarmENITarget, &c.WarmENITarget, 0, "the default, 1")
	r.fallbackInt(EnvWarmIPTarget, &c.WarmIPTarget, 0, "none (unset)")
	r.fallbackInt(EnvMinimumIPTarget, &c.MinimumIPTarget, 0, "none (unset)")
	r.fallbackInt(EnvWarmPrefixTarget, &c.WarmPrefixTarget, 0, "the default, 1")
	r.fallbackInt(EnvMaxENI, &c.MaxENI, 1, "the instance type's limit")
	r.fallbackBool(EnvEnablePrefixDelegation, &c.EnablePrefixDelegation, boolUtils)
	r.fallbackBool(EnvCustomNetwork, &c.CustomNetworking, boolIPAMD)
	r.readFamily(&c)
	r.fallbackBool(EnvEnableSubnetDiscovery, &c.EnableSubnetDiscovery, boolIPAMD)
	r.fallbackBool(EnvDisableLeakedENI, &c.DisableLeakedENICleanup, boolUtils)
	r.fallbackBool(EnvExternalSNAT, &c.ExternalSNAT, boolNetworkUtils)
	r.fallbackBool(EnvEnablePodENI, &c.EnablePodENI, boolUtils)
	r.strVar(datapath.EnvPodSGEnforcing, &c.PodSGEnforcingMode)
	r.strVar(EnvENIConfigLabelDef, &c.ENIConfigLabelDef)
	r.strVar(EnvENIConfigAnnotationDef, &c.ENIConfigAnnotationDef)
	r.strVar(EnvVethPrefix, &c.VethPrefix)
	r.strVar(EnvClusterName, &c.ClusterName)
	r.strVar(EnvLogLevel, &c.LogLevel)
	r.strVar(EnvExcludeSNATCIDRs, &c.ExcludeSNATCIDRs)
	r.snat(&c)
	if _, ok := r.get(EnvIPCooldownPeriod); ok {
		cooldown := -1
		r.intVar(EnvIPCooldownPeriod, &cooldown, 0)
		if cooldown >= 0 {
			c.IPCooldown = time.Duration(cooldown) * time.Second
		}
	}
	eniMTUSet := false
	if _, ok := r.get(EnvENIMTU); ok {
		eniMTUSet = true
		r.intVar(EnvENIMTU, &c.ENIMTU, 0)
	}
	if _, ok := r.get(EnvPodMTU); ok {
		r.intVar(EnvPodMTU, &c.PodMTU, 0)
	} else if eniMTUSet {
		c.PodMTU = c.ENIMTU
	}
	r.additionalTags(&c.AdditionalENITags)
	c.Warnings = r.warn
	if c.EnablePrefixDelegation && c.WarmIPTarget <= 0 && c.WarmPrefixTarget <= 0 && c.MinimumIPTarget <= 0 {
		// The aws-vpc-cni init container (validateEnvVars) refuses this.
		r.errs = append(r.errs, fmt.Errorf("%s=0 with %s=true: Setting WARM_PREFIX_TARGET = 0 is not supported while WARM_IP_TARGET/MINIMUM_IP_TARGET is not set. Please configure either one of the WARM_{PREFIX/IP}_TARGET or MINIMUM_IP_TARGET env variables",
			EnvWarmPrefixTarget, EnvEnablePrefixDelegation))
	}
	if err := c.Validate(); err != nil {
		r.errs = append(r.errs, err)
	}
	if err := errors.Join(r.errs...); err != nil {
		return c, fmt.Errorf("ipamd configuration: %w", err)
	}
	return c, nil
}

// envReader reads variables for FromEnv, collecting every unusable value.
type envReader struct {
	lookup func(string) (string, bool)
	errs   []error
	warn   []Warning
}

// get is the variable's trimmed value; unset and empty are alike.
func (r *envReader) get(name string) (string, bool) {
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (r *envReader) intVar(name string, dst *int, min int) {
	v, ok := r.get(name)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		r.errs = append(r.errs, fmt.Errorf("%s=%q: not an integer", name, v))
	case n < min:
		r.errs = append(r.errs, fmt.Errorf("%s=%d: must be at least %d", name, n, min))
	default:
		*dst = n
	}
}

func (r *envReader) strVar(name string, dst *string) {
	if v, ok := r.get(name); ok {
		*dst = v
	}
}

// Validate reports every problem at once, naming the environment variable
// that sets each field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.WarmENITarget < 0 {
		bad("%s=%d: must not be negative", EnvWarmENITarget, c.WarmENITarget)
	}
	if c.WarmIPTarget < 0 {
		bad("%s=%d: must not be negative", EnvWarmIPTarget, c.WarmIPTarget)
	}
	if c.MinimumIPTarget < 0 {
		bad("%s=%d: must not be negative", EnvMinimumIPTarget, c.MinimumIPTarget)
	}
	if c.WarmPrefixTarget < 0 {
		bad("%s=%d: must not be negative", EnvWarmPrefixTarget, c.WarmPrefixTarget)
	}
	if c.IPCooldown < 0 {
		bad("%s=%v: must not be negative", EnvIPCooldownPeriod, c.IPCooldown)
	}
	if c.ENIMTU != 0 && (c.ENIMTU < 576 || c.ENIMTU > 9001) {
		bad("%s=%d: must be within 576..9001", EnvENIMTU, c.ENIMTU)
	}
	if c.PodMTU != 0 && (c.PodMTU < 576 || c.PodMTU > 9001) {
		bad("%s=%d: must be within 576..9001", EnvPodMTU, c.PodMTU)
	}
	if len(c.VethPrefix) > 4 {
		bad("%s=%q: at most 4 characters (the veth name must fit 15 characters)", EnvVethPrefix, c.VethPrefix)
	}
	switch c.VethPrefix {
	case "eth", "vlan", "lo":
		bad("%s=%q: reserved interface name prefix", EnvVethPrefix, c.VethPrefix)
	}
	switch c.RandomizeSNAT {
	case "", SNATRandomPRNG, SNATRandomHash, SNATSequential:
	default:
		bad("%s=%q: must be %s, %s or %s", EnvRandomizeSNAT, c.RandomizeSNAT, SNATRandomPRNG, SNATRandomHash, SNATSequential)
	}
	if err := c.validateFamily(); err != nil {
		errs = append(errs, err)
	}
	if c.LogLevel != "" {
		if _, err := parseLevel(c.LogLevel); err != nil {
			bad("%s=%q: %v", EnvLogLevel, c.LogLevel, err)
		}
	}
	for _, p := range []struct {
		name string
		d    time.Duration
	}{
		{"PoolCheckPeriod", c.PoolCheckPeriod}, {"ReconcilePeriod", c.ReconcilePeriod},
		{"DecreaseGap", c.DecreaseGap}, {"ENIMinAge", c.ENIMinAge}, {"SubnetPause", c.SubnetPause},
		{"LeakScanPeriod", c.LeakScanPeriod}, {"LeakedENIMinAge", c.LeakedENIMinAge}, {"VPCCIDRPeriod", c.VPCCIDRPeriod},
		{"SGRefreshPeriod", c.SGRefreshPeriod},
	} {
		if p.d < 0 {
			bad("%s=%v: must not be negative", p.name, p.d)
		}
	}
	return errors.Join(errs...)
}

// IPAMDEnv returns the settings as upstream's /v1/ipamd-env-settings shows
// them: variable name → effective value.
func (c Config) IPAMDEnv() map[string]string {
	tags := ""
	if len(c.AdditionalENITags) > 0 {
		b, _ := json.Marshal(c.AdditionalENITags)
		tags = string(b)
	}
	return map[string]string{
		EnvWarmENITarget:          strconv.Itoa(c.WarmENITarget),
		EnvWarmIPTarget:           strconv.Itoa(c.WarmIPTarget),
		EnvMinimumIPTarget:        strconv.Itoa(c.MinimumIPTarget),
		EnvWarmPrefixTarget:       strconv.Itoa(c.WarmPrefixTarget),
		EnvEnablePrefixDelegation: strconv.FormatBool(c.EnablePrefixDelegation),
		EnvMaxENI:                 strconv.Itoa(c.MaxENI),
		EnvEnableIPv4:             strconv.FormatBool(!c.DisableIPv4),
		EnvEnableIPv6:             strconv.FormatBool(c.EnableIPv6),
		EnvCustomNetwork:          strconv.FormatBool(c.CustomNetworking),
		EnvENIConfigLabelDef:      c.ENIConfigLabelDef,
		EnvEnableSubnetDiscovery:  strconv.FormatBool(c.EnableSubnetDiscovery),
		EnvIPCooldownPeriod:       strconv.Itoa(int(c.IPCooldown / time.Second)),
		EnvDisableLeakedENI:       strconv.FormatBool(c.DisableLeakedENICleanup),
		EnvClusterName:            c.ClusterName,
		EnvAdditionalENITags:      tags,
		EnvLogLevel:               c.LogLevel,
	}
}

// NetworkUtilsEnv returns the settings of upstream's networkutils
// (/v1/networkutils-env-settings).
func (c Config) NetworkUtilsEnv() map[string]string {
	return map[string]string{
		EnvENIMTU:       strconv.Itoa(c.ENIMTU),
		EnvPodMTU:       strconv.Itoa(c.PodMTU),
		EnvVethPrefix:   c.VethPrefix,
		EnvExternalSNAT: strconv.FormatBool(c.ExternalSNAT),
		// As upstream's GetConfigForDebug: the mark in decimal, the SNAT
		// type as its number (sequential 0, hashrandom 1, prng 2).
		EnvConnmark:             strconv.FormatUint(uint64(c.Connmark), 10),
		EnvNodePortSupport:      strconv.FormatBool(!c.NodePortSupportDisabled),
		EnvRandomizeSNAT:        strconv.Itoa(SNATType(c.RandomizeSNAT)),
		EnvExcludeSNATCIDRs:     strings.Join(mustCIDRs(c.ExcludeSNATCIDRs), ","),
		EnvExternalServiceCIDRs: strings.Join(mustCIDRs(c.ExternalServiceCIDRs), ","),
	}
}
