package scenario

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/enilab/enilab/internal/datapath"
)

// maxReplicas bounds a deployment far above what any lab's nodes hold.
const maxReplicas = 5000

// deployNameRe is a Kubernetes object name that leaves room for the pod
// suffix (-<n>).
var deployNameRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$`)

// deployments follows, step by step, which deployments exist, so a delete
// or pod expect naming one that does not is caught before the lab starts.
type deployments struct {
	alive map[string]bool
	ever  map[string]bool
}

func (d *deployments) names() []string { return slices.Sorted(maps.Keys(d.alive)) }

// deployStep reads a deploy step: a name, replicas, and optionally a node
// selector some node satisfies and hostNetwork.
func (p *stepsParser) deployStep(v *yaml.Node, path string) (*DeployStep, bool) {
	f := p.fields(v, path, []string{"name", "replicas", "nodeSelector", "hostNetwork", "labels"})
	if f == nil {
		return nil, false
	}
	d := &DeployStep{}
	ok := true
	if x := f["name"]; x == nil {
		p.add(v, join(path, "name"), "missing")
		ok = false
	} else if d.Name, ok = p.str(x, join(path, "name")); ok && (!deployNameRe.MatchString(d.Name) || d.Name == "pod") {
		p.add(x, join(path, "name"), "bad deployment name %q: want lower-case letters, digits and '-', at most 40 characters, not \"pod\" (its pods are named %s-1, %s-2, …)", d.Name, d.Name, d.Name)
		ok = false
	}
	if x := f["replicas"]; x == nil {
		p.add(v, join(path, "replicas"), "missing")
		ok = false
	} else {
		var good bool
		d.Replicas, good = p.count(x, join(path, "replicas"), 0)
		if good && d.Replicas > maxReplicas {
			p.add(x, join(path, "replicas"), "at most %d replicas, got %d", maxReplicas, d.Replicas)
			good = false
		}
		ok = ok && good
	}
	if x := f["hostNetwork"]; x != nil {
		var good bool
		d.HostNetwork, good = p.boolean(x, join(path, "hostNetwork"))
		ok = ok && good
	}
	if x := f["labels"]; x != nil {
		d.Labels = p.strMap(x, join(path, "labels"))
	}
	if x := f["nodeSelector"]; x != nil {
		d.NodeSelector = p.strMap(x, join(path, "nodeSelector"))
		ok = p.satisfiable(x, join(path, "nodeSelector"), d.NodeSelector) && ok
	}
	if ok {
		p.deps.alive[d.Name], p.deps.ever[d.Name] = true, true
	}
	return d, ok
}

// satisfiable reports whether some node of the file has the selector's
// labels (its own, plus the zone of its subnet), else says which labels
// the nodes have.
func (p *stepsParser) satisfiable(at *yaml.Node, path string, sel map[string]string) bool {
	var have []string
	for _, n := range p.nodeLabelSets() {
		if matches(sel, n) {
			return true
		}
		for k, v := range n {
			have = append(have, k+"="+v)
		}
	}
	slices.Sort(have)
	have = slices.Compact(have)
	p.add(at, path, "no node has the labels %s, so every pod would stay Pending (the nodes' labels: %s)", envString(sel), strings.Join(have, ", "))
	return false
}

// nodeLabelSets are the labels of every node the file can start (node
// groups included, even those that start empty).
func (p *stepsParser) nodeLabelSets() []map[string]string {
	var out []map[string]string
	for _, n := range append(slices.Clone(p.sc.Nodes), slices.Collect(maps.Values(p.sc.Groups))...) {
		l := maps.Clone(n.Labels)
		if l == nil {
			l = map[string]string{}
		}
		if s, ok := p.subnets[n.Subnet]; ok {
			l[zoneLabel] = s.AZ
		}
		out = append(out, l)
	}
	return out
}

func matches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// deleteStep reads a delete step: one pod (with an optional grace period)
// or one deployment.
func (p *stepsParser) deleteStep(v *yaml.Node, path string) (*DeleteStep, bool) {
	f := p.fields(v, path, []string{"pod", "deployment", "gracePeriod"})
	if f == nil {
		return nil, false
	}
	d := &DeleteStep{}
	pod, dep := f["pod"], f["deployment"]
	ok := true
	switch {
	case pod != nil && dep != nil:
		p.add(v, path, "give pod or deployment, not both")
		return d, false
	case pod != nil:
		d.Pod, ok = p.workloadPodRef(pod, join(path, "pod"), true)
	case dep != nil:
		d.Deployment, ok = p.deploymentRef(dep, join(path, "deployment"))
		if ok {
			delete(p.deps.alive, d.Deployment)
		}
	default:
		p.add(v, path, "missing pod: NAME or deployment: NAME")
		return d, false
	}
	if x := f["gracePeriod"]; x != nil {
		g, good := p.count(x, join(path, "gracePeriod"), 0)
		if good && dep != nil {
			p.add(x, join(path, "gracePeriod"), "a grace period applies to a pod delete")
			good = false
		}
		d.GracePeriod0 = g == 0
		ok = ok && good
	}
	return d, ok
}

// deploymentRef reads the name of a deployment that exists at this step.
func (p *stepsParser) deploymentRef(n *yaml.Node, path string) (string, bool) {
	name, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if p.deps.alive[name] {
		return name, true
	}
	msg := fmt.Sprintf("unknown deployment %q", name)
	if s := suggest(name, p.deps.names()); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if len(p.deps.alive) > 0 {
		msg += " (deployments: " + strings.Join(p.deps.names(), ", ") + ")"
	} else {
		msg += ": no deploy step before this one creates it"
	}
	p.add(n, path, "%s", msg)
	return "", false
}

// workloadPodRef reads a pod name: a numbered pod (node-1/pod-3, checked
// as ping's) or a deployment's pod (web-3) of a deployment deployed
// before this step. A deleted numbered pod leaves the tracker.
func (p *stepsParser) workloadPodRef(n *yaml.Node, path string, deleting bool) (string, bool) {
	name, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if strings.Contains(name, "/") {
		ref, good := p.podRef(n, path)
		if good && deleting {
			p.pods.remove(ref)
		}
		return ref, good
	}
	i := strings.LastIndex(name, "-")
	num, err := strconv.Atoi(name[i+1:])
	if i <= 0 || err != nil || num < 1 {
		p.add(n, path, "pod %q: want a deployment's pod such as web-3 or a numbered pod such as node-1/pod-3", name)
		return "", false
	}
	if dep := name[:i]; !p.deps.ever[dep] {
		msg := fmt.Sprintf("pod %q: no deploy step before this one creates deployment %q", name, dep)
		if s := suggest(dep, slices.Sorted(maps.Keys(p.deps.ever))); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.add(n, path, "%s", msg)
		return "", false
	}
	return name, true
}

// podExpect reads the pod keys of an expect (pod, state, ipInSubnet,
// reason); nil when none is set.
func (p *parser) podExpect(n *yaml.Node, f map[string]*yaml.Node, path string) (*PodExpect, bool) {
	if f["pod"] == nil {
		for _, k := range []string{"state", "ipInSubnet", "reason"} {
			if f[k] != nil {
				p.add(f[k], join(path, k), "a figure of one pod: give pod: NAME too")
				return nil, false
			}
		}
		return nil, true
	}
	e := &PodExpect{}
	ok := true
	// The name itself is checked by the steps parser (podExpectRef).
	e.Name, ok = p.str(f["pod"], join(path, "pod"))
	if x := f["state"]; x != nil {
		s, good := p.str(x, join(path, "state"))
		if good && !slices.Contains(PodStates, s) {
			msg := fmt.Sprintf("unknown pod state %q", s)
			if sg := suggest(s, PodStates); sg != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sg)
			}
			p.add(x, join(path, "state"), "%s; want one of %s", msg, strings.Join(PodStates, ", "))
			good = false
		}
		e.State, ok = s, ok && good
	}
	if x := f["ipInSubnet"]; x != nil {
		s, good := p.subnetRef(x, join(path, "ipInSubnet"))
		e.IPInSubnet, ok = s.ID, ok && good
	}
	if x := f["reason"]; x != nil {
		var good bool
		e.Reason, good = p.str(x, join(path, "reason"))
		ok = ok && good
	}
	if e.State == "" && e.IPInSubnet == "" && e.Reason == "" && ok {
		p.add(n, path, "pod %s: give state, ipInSubnet or reason", e.Name)
		ok = false
	}
	return e, ok
}

// podExpectRef checks the pod an expect names exists by then (numbered
// pods may since be deleted: state Gone expects that).
func (p *stepsParser) podExpectRef(v *yaml.Node, path string, e *Expect) bool {
	x := valueOf(v, "pod")
	name := e.Pod.Name
	if !strings.Contains(name, "/") {
		_, ok := p.workloadPodRef(x, join(path, "pod"), false)
		return ok
	}
	node, num, err := datapath.ParsePodName(name)
	if err != nil {
		p.add(x, join(path, "pod"), "%v", err)
		return false
	}
	if !p.nodeSet[node] || num > p.pods.created[node] {
		p.add(x, join(path, "pod"), "pod %q is never created before this step", name)
		return false
	}
	return true
}

// boolean parses true or false.
func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	s, ok := p.scalar(n, path, "true or false")
	if !ok {
		return false, false
	}
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	p.add(n, path, "want true or false, got %q", s)
	return false, false
}
