package scenario

import (
	"fmt"
	"regexp"

	"gopkg.in/yaml.v3"

	"github.com/enilab/enilab/ipamd/config"
)

// sgIDRe matches a security group id: the lab creates the groups under
// exactly these ids.
var sgIDRe = regexp.MustCompile(`^sg-[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

func (p *parser) eniConfigs(n *yaml.Node) {
	for i, e := range p.list(n, "eniConfigs", "ENIConfigs") {
		if c, ok := p.eniConfig(e, index("eniConfigs", i)); ok {
			p.sc.ENIConfigs = append(p.sc.ENIConfigs, c)
		}
	}
}

func (p *parser) eniConfig(e *yaml.Node, path string) (ENIConfig, bool) {
	f := p.fields(e, path, []string{"name", "subnet", "securityGroups"})
	if f == nil {
		return ENIConfig{}, false
	}
	c := ENIConfig{}
	ok := true
	if v := f["name"]; v != nil {
		c.Name, ok = p.str(v, join(path, "name"))
		if _, dup := p.eniCfgLine[c.Name]; ok && dup {
			p.add(v, join(path, "name"), "ENIConfig %q is defined twice", c.Name)
			ok = false
		}
		p.eniCfgLine[c.Name] = v.Line
	} else {
		p.add(e, join(path, "name"), "missing")
		ok = false
	}
	s, good := p.subnetField(f, e, path)
	c.Subnet, ok = s.ID, ok && good
	if v := f["securityGroups"]; v != nil {
		var good bool
		c.SecurityGroups, good = p.securityGroups(v, join(path, "securityGroups"))
		ok = ok && good
	}
	return c, ok
}

// securityGroups reads a list of security group ids. The lab creates these
// groups under exactly these ids, so they must be ids, not names.
func (p *parser) securityGroups(v *yaml.Node, path string) ([]string, bool) {
	var ids []string
	ok := true
	for j, x := range p.list(v, path, "security group ids") {
		id, good := p.str(x, index(path, j))
		if good && !sgIDRe.MatchString(id) {
			p.add(x, index(path, j), "bad security group id %q: want sg-<lowercase letters, digits, dashes>, e.g. sg-1", id)
			good = false
		}
		if good {
			ids = append(ids, id)
		}
		ok = ok && good
	}
	return ids, ok
}

// zoneLabel is the node label EKS users name in ENI_CONFIG_LABEL_DEF to
// select ENIConfigs by zone; the lab sets it from the node's subnet.
const zoneLabel = "topology.kubernetes.io/zone"

// checkCustomNetworking makes sure every node finds an ENIConfig by its zone
// (or ENI_CONFIG_LABEL_DEF label) in its own AZ, as ipamd needs at start.
func (p *parser) checkCustomNetworking(at *yaml.Node) {
	if len(p.sc.ENIConfigs) == 0 {
		p.add(at, "eniConfigs", "%s is true but no eniConfigs are defined", config.EnvCustomNetwork)
		return
	}
	// Upstream reads the ENIConfig name from the label k8s.amazonaws.com/eniConfig
	// unless ENI_CONFIG_LABEL_DEF names another (EKS users set it to the
	// zone label), and falls back to an ENIConfig named "default".
	labelDef := p.sc.IPAMDEnv[config.EnvENIConfigLabelDef]
	if labelDef == "" {
		labelDef = config.DefaultENIConfigLabelDef
	}
	byName := map[string]ENIConfig{}
	for _, c := range p.sc.ENIConfigs {
		byName[c.Name] = c
	}
	for _, nd := range p.sc.Nodes {
		zone := p.subnets[nd.Subnet].AZ
		want, ok := nd.Labels[config.ExternalENIConfigLabel] // upstream's first choice
		if !ok {
			want, ok = nd.Labels[labelDef]
		}
		if !ok && labelDef == zoneLabel {
			want, ok = zone, true
		}
		if !ok {
			want = config.DefaultENIConfigName
		}
		field := fmt.Sprintf("nodes (%s)", nd.Name)
		line := p.nodeLine[nd.Name]
		switch c, found := byName[want]; {
		case !found && !ok:
			p.addAt(line, field, "custom networking: the node has no label %s, and there is no ENIConfig named %q (set %s: %s to select ENIConfigs by zone)", labelDef, config.DefaultENIConfigName, config.EnvENIConfigLabelDef, zoneLabel)
		case !found:
			p.addAt(line, field, "custom networking: no ENIConfig named %q (the node's %s)", want, labelDef)
		case p.subnets[c.Subnet].AZ != zone:
			p.addAt(line, field, "custom networking: ENIConfig %q uses %s in %s, but the node is in %s", c.Name, c.Subnet, p.subnets[c.Subnet].AZ, zone)
		}
	}
}
