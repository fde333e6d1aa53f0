package scenario

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// The names `cni: {plugin: …}` takes besides a path to a binary.
const (
	// CNIPluginEnilab is enilab's own plugin (the default).
	CNIPluginEnilab = "enilab"
	// CNIPluginUpstream is upstream's aws-cni built from the pinned VPC CNI
	// module (`make upstream`).
	CNIPluginUpstream = "upstream"
)

// cni reads a `cni:` mapping (the scenario's or a node group's) and
// returns its plugin; "" when none is given.
func (p *parser) cni(n *yaml.Node, path string) string {
	f := p.fields(n, path, []string{"plugin"})
	if f == nil || f["plugin"] == nil {
		return ""
	}
	v, ok := p.str(f["plugin"], join(path, "plugin"))
	if !ok {
		return ""
	}
	if err := CheckCNIPlugin(v); err != nil {
		p.add(f["plugin"], join(path, "plugin"), "%v", err)
		return ""
	}
	return v
}

// CheckCNIPlugin checks a plugin choice: enilab, upstream or a path to an
// aws-cni binary (which the lab checks when it starts).
func CheckCNIPlugin(v string) error {
	if v == CNIPluginEnilab || v == CNIPluginUpstream || strings.Contains(v, "/") {
		return nil
	}
	msg := fmt.Sprintf("unknown plugin %q: want %s, %s or a path to an aws-cni binary (with a /, such as ./aws-cni)",
		v, CNIPluginEnilab, CNIPluginUpstream)
	if s := suggest(v, []string{CNIPluginEnilab, CNIPluginUpstream}); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return fmt.Errorf("%s", msg)
}

// UseCNIPlugin makes v the plugin of every node, over what the file says
// (`enilab run --cni-plugin`).
func (sc *Scenario) UseCNIPlugin(v string) error {
	if err := CheckCNIPlugin(v); err != nil {
		return err
	}
	sc.CNI.Plugin = v
	for i := range sc.Nodes {
		sc.Nodes[i].CNIPlugin = ""
	}
	return nil
}

// OwnPlugin reports whether every node runs enilab's own plugin: neither
// the file's cni.plugin nor any node's cniPlugin names another.
func (sc *Scenario) OwnPlugin() bool {
	own := func(v string) bool { return v == "" || v == CNIPluginEnilab }
	if !own(sc.CNI.Plugin) {
		return false
	}
	for _, n := range sc.Nodes {
		if !own(n.CNIPlugin) {
			return false
		}
	}
	return true
}
