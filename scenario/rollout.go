package scenario

import (
	"fmt"
	"maps"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/enilab/enilab/ipamd/config"
)

// IPAMDStep changes the aws-node DaemonSet's environment (`kubectl set env
// daemonset aws-node …`) and rolls it out as its RollingUpdate strategy
// does: at most MaxUnavailable nodes' aws-node pods are replaced at a time,
// and each new pod must run MinReady before the next batch.
type IPAMDStep struct {
	Set            map[string]string
	MaxUnavailable int
	MinReady       time.Duration
	// Revision is the DaemonSet's revision after the step: 1 is the
	// file's environment, each ipamd step adds one.
	Revision int
}

// describe renders an ipamd step for the timeline.
func (s *IPAMDStep) describe() string {
	out := fmt.Sprintf("ipamd: set %s, rolling out revision %d (maxUnavailable %d", envString(s.Set), s.Revision, s.MaxUnavailable)
	if s.MinReady > 0 {
		out += ", minReadySeconds " + fmtDur(s.MinReady)
	}
	return out + ")"
}

// ipamdStep reads an ipamd step: set (checked as ipamd would, merged over
// the file's environment) and rollout.
func (p *stepsParser) ipamdStep(v *yaml.Node, path string) (*IPAMDStep, bool) {
	f := p.fields(v, path, []string{"set", "rollout"})
	if f == nil {
		return nil, false
	}
	s := &IPAMDStep{Set: map[string]string{}, MaxUnavailable: 1}
	ok := true
	if x := f["set"]; x != nil {
		before := len(p.probs)
		p.envMap(x, join(path, "set"), s.Set)
		merged := maps.Clone(p.sc.IPAMDEnv)
		maps.Copy(merged, s.Set)
		if _, err := config.FromEnv(func(q string) (string, bool) { v, ok := merged[q]; return v, ok }); err != nil {
			p.add(x, join(path, "set"), "%v", configProblems(err))
		}
		ok = len(p.probs) == before
	} else {
		p.add(v, join(path, "set"), "missing: the ipamd variables to change, e.g. {WARM_IP_TARGET: \"5\"}")
		ok = false
	}
	if x := f["rollout"]; x != nil {
		r := p.fields(x, join(path, "rollout"), []string{"maxUnavailable", "minReadySeconds"})
		if m := r["maxUnavailable"]; m != nil {
			var good bool
			s.MaxUnavailable, good = p.count(m, join(join(path, "rollout"), "maxUnavailable"), 1)
			ok = ok && good
		}
		if m := r["minReadySeconds"]; m != nil {
			secs, good := p.count(m, join(join(path, "rollout"), "minReadySeconds"), 0)
			s.MinReady, ok = time.Duration(secs)*time.Second, ok && good
		}
	}
	p.revision++
	s.Revision = p.revision + 1
	return s, ok
}
