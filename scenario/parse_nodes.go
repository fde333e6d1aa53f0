package scenario

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/enilab/enilab/internal/ec2limits"
	"github.com/enilab/enilab/ipamd/config"
)

// nodeNameRe matches a node name: it becomes part of namespace and link
// names, so it is short and DNS-label-like.
var nodeNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

func (p *parser) nodes(n *yaml.Node) {
	items := p.list(n, "nodes", "node groups")
	if len(items) == 0 && (n.Kind == yaml.SequenceNode || n.Tag == "!!null") {
		p.add(n, "nodes", "a scenario needs at least one node")
	}
	for i, e := range items {
		p.nodeGroup(e, index("nodes", i))
	}
}

// nodeGroup reads one entry of nodes: one node, or count nodes named
// <name>-1 … <name>-<count>.
func (p *parser) nodeGroup(e *yaml.Node, path string) {
	f := p.fields(e, path, []string{"name", "count", "instanceType", "subnet", "maxPods", "labels", "ipamd", "cni", "datapath"})
	if f == nil {
		return
	}
	spec, count, ok := p.nodeSpec(e, f, path)
	ok = p.groupFields(f, path, &spec) && ok
	names := []string{spec.Name}
	if f["count"] != nil {
		names = names[:0]
		for j := 1; j <= count; j++ {
			names = append(names, fmt.Sprintf("%s-%d", spec.Name, j))
		}
	}
	for _, name := range names {
		if name == "" {
			continue
		}
		if p.nodeSet[name] {
			p.add(f["name"], join(path, "name"), "node %q is defined twice", name)
			ok = false
			continue
		}
		p.nodeSet[name] = true
		p.nodeLine[name] = e.Line
		if ok {
			s := spec
			s.Name = name
			p.sc.Nodes = append(p.sc.Nodes, s)
		}
	}
}

// nodeSpec reads a node group's fields; count is 0 when not given.
func (p *parser) nodeSpec(e *yaml.Node, f map[string]*yaml.Node, path string) (spec NodeSpec, count int, ok bool) {
	ok = true
	if v := f["name"]; v != nil {
		name, good := p.str(v, join(path, "name"))
		if good && (!nodeNameRe.MatchString(name) || len(name) > 20) {
			p.add(v, join(path, "name"), "bad node name %q: want at most 20 lowercase letters, digits and dashes", name)
			good = false
		}
		spec.Name, ok = name, good
	} else {
		p.add(e, join(path, "name"), "missing")
		ok = false
	}
	if v := f["datapath"]; v != nil {
		d, good := p.datapath(v, join(path, "datapath"))
		spec.Datapath, ok = d, ok && good
	}
	if v := f["count"]; v != nil {
		// 0 is a node group that starts empty (nodes steps add to it).
		c, good := p.count(v, join(path, "count"), 0)
		if limit := p.sc.maxPerGroup(spec); good && c > limit {
			p.add(v, join(path, "count"), "at most %d nodes per group (datapath %s), got %d", limit, p.sc.nodeDatapath(spec), c)
			good = false
		}
		count, ok = c, ok && good
	}
	if v := f["instanceType"]; v != nil {
		spec.InstanceType, _ = p.instanceType(v, join(path, "instanceType"))
		ok = ok && spec.InstanceType != ""
	} else {
		p.add(e, join(path, "instanceType"), "missing")
		ok = false
	}
	s, good := p.subnetField(f, e, path)
	spec.Subnet, ok = s.ID, ok && good
	if v := f["maxPods"]; v != nil {
		mp, good := p.count(v, join(path, "maxPods"), 0)
		spec.MaxPods, ok = mp, ok && good
	}
	if v := f["labels"]; v != nil {
		spec.Labels = p.strMap(v, join(path, "labels"))
	}
	if v := f["cni"]; v != nil {
		spec.CNIPlugin = p.cni(v, join(path, "cni"))
	}
	return spec, count, ok
}

func (p *parser) instanceType(n *yaml.Node, path string) (string, bool) {
	t, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	lt, found := ec2limits.Lookup(t)
	if !found {
		msg := fmt.Sprintf("unknown instance type %q", t)
		if s := suggest(t, ec2limits.Names()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.add(n, path, "%s", msg)
		return "", false
	}
	if p.enabledPD && !lt.SupportsPrefixes() {
		// Upstream's isConfigValid warns and runs in secondary-IP mode.
		p.warn(n, path, "%s=true but %s is %s, not Nitro: the VPC CNI logs \"Prefix delegation is not supported on non-nitro instance %s hence falling back to default (secondary IP) mode\" and this node uses secondary IPs",
			config.EnvEnablePrefixDelegation, t, lt.Hypervisor, t)
	}
	return t, true
}

func (p *parser) nodeRef(n *yaml.Node, path string) (string, bool) {
	name, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if !p.nodeSet[name] {
		msg := fmt.Sprintf("unknown node %q", name)
		if s := suggest(name, slices.Sorted(maps.Keys(p.nodeSet))); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(p.nodeSet) > 0 {
			msg += " (nodes: " + strings.Join(slices.Sorted(maps.Keys(p.nodeSet)), ", ") + ")"
		}
		p.add(n, path, "%s", msg)
		return "", false
	}
	return name, true
}
