package scenario

import (
	"errors"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/enilab/enilab/ipamd/config"
)

// ipamdEnvNames are the ipamd variables enilab knows (upstream names), for
// "did you mean"; values are checked by ipamd's own parser, so validate says
// exactly what ipamd would. Unknown variables pass through.
var ipamdEnvNames = []string{
	config.EnvWarmENITarget, config.EnvWarmIPTarget, config.EnvMinimumIPTarget, config.EnvWarmPrefixTarget,
	config.EnvMaxENI, config.EnvIPCooldownPeriod, config.EnvENIMTU, config.EnvPodMTU,
	config.EnvEnablePrefixDelegation, config.EnvCustomNetwork, config.EnvEnableSubnetDiscovery,
	config.EnvDisableLeakedENI, config.EnvExternalSNAT, config.EnvENIConfigLabelDef, config.EnvVethPrefix,
	config.EnvClusterName, config.EnvAdditionalENITags, config.EnvLogLevel, config.EnvENIConfigAnnotationDef,
	config.EnvExcludeSNATCIDRs, config.EnvRandomizeSNAT, config.EnvConnmark, config.EnvNodePortSupport, config.EnvExternalServiceCIDRs,
	config.EnvEnablePodENI,
}

// cniPrefix starts many upstream variable names, and is often added to
// names that lack it.
const cniPrefix = "AWS_VPC_K8S_CNI_"

// suggestEnv is the known variable an unknown name most likely means:
// a near spelling, or the name without (or with) the AWS_VPC_K8S_CNI_
// prefix.
func suggestEnv(name string) string {
	if s := suggest(name, ipamdEnvNames); s != "" {
		return s
	}
	if rest, ok := strings.CutPrefix(name, cniPrefix); ok {
		return suggest(rest, ipamdEnvNames)
	}
	return suggest(cniPrefix+name, ipamdEnvNames)
}

// envNameRe matches a POSIX environment variable name.
var envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (p *parser) ipamd(n *yaml.Node) {
	f := p.fields(n, "ipamd", []string{"env"})
	if f == nil || f["env"] == nil {
		return
	}
	p.envMap(f["env"], "ipamd.env", p.sc.IPAMDEnv)
	cfg, err := config.FromEnv(func(q string) (string, bool) { v, ok := p.sc.IPAMDEnv[q]; return v, ok })
	if err != nil {
		// Each variable was fine alone: a combination is not.
		p.add(f["env"], "ipamd.env", "%v", configProblems(err))
	}
	p.enabledPD, p.customNet = cfg.EnablePrefixDelegation, cfg.CustomNetworking
}

// envMap reads a mapping of ipamd variables into env, checking each name
// and value as ipamd would.
func (p *parser) envMap(n *yaml.Node, at string, env map[string]string) {
	keys, vals := p.pairs(n, at, "environment variables to values")
	for i, k := range keys {
		path := join(at, k.Value)
		if !envNameRe.MatchString(k.Value) {
			p.add(k, path, "not an environment variable name")
			continue
		}
		v, ok := p.scalar(vals[i], path, "a value")
		if !ok {
			continue
		}
		if !slices.Contains(ipamdEnvNames, k.Value) {
			if s := suggestEnv(k.Value); s != "" {
				p.warn(k, path, "unknown ipamd variable %q: the VPC CNI ignores it (did you mean %q?)", k.Value, s)
			}
		}
		name := k.Value
		cfg, err := config.FromEnv(func(q string) (string, bool) {
			if q == name {
				return v, true
			}
			return "", false
		})
		if err != nil && !config.OnlyIPFamily(err) { // a combination is judged below
			p.add(vals[i], path, "%v", configProblems(err))
			continue
		}
		for _, w := range cfg.Warnings {
			p.warn(vals[i], path, "%s", w.Msg)
		}
		if name == config.EnvENIConfigAnnotationDef {
			p.warn(k, path, "lab nodes have no annotations: on a cluster the VPC CNI reads the ENIConfig name from the node annotation %q before the label %s; here only labels (%s first) select it",
				v, config.EnvENIConfigLabelDef, config.ExternalENIConfigLabel)
		}
		env[k.Value] = v
	}
}

// configProblems is the list of problems config.FromEnv found, without the
// context FromEnv wraps it in once (the problem's field already says where).
func configProblems(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		return inner
	}
	return err
}
