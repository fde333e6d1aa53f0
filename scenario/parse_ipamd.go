package scenario

import (
	"errors"
	"regexp"
	"slices"

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
	config.EnvClusterName, config.EnvAdditionalENITags, config.EnvLogLevel,
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
			if s := suggest(k.Value, ipamdEnvNames); s != "" {
				p.add(k, path, "unknown ipamd variable %q (did you mean %q?)", k.Value, s)
				continue
			}
		}
		name := k.Value
		if _, err := config.FromEnv(func(q string) (string, bool) {
			if q == name {
				return v, true
			}
			return "", false
		}); err != nil {
			p.add(vals[i], path, "%v", configProblems(err))
			continue
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
