package scenario

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/enilab/enilab/fakeec2"
)

// ec2Actions are the actions fakeec2 serves, sorted: throttle, latency
// and fault operations name them.
var ec2Actions = fakeec2.Actions()

// ec2CodeRe matches an EC2 error code such as RequestLimitExceeded or
// InvalidParameterValue.Range.
var ec2CodeRe = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*(\.[A-Z][A-Za-z0-9]*)*$`)

func (p *parser) action(n *yaml.Node, path string) (string, bool) {
	a, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if !slices.Contains(ec2Actions, a) {
		msg := fmt.Sprintf("unknown EC2 action %q", a)
		if s := suggest(a, ec2Actions); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.add(n, path, "%s", msg)
		return "", false
	}
	return a, true
}

func (p *parser) ec2(n *yaml.Node) {
	f := p.fields(n, "ec2", []string{"throttle", "latency", "imdsLag", "describeLag"})
	if f == nil {
		return
	}
	e := &p.sc.EC2
	if c := f["throttle"]; c != nil {
		p.throttle(c)
	}
	if c := f["latency"]; c != nil {
		p.latency(c)
	}
	if c := f["imdsLag"]; c != nil {
		e.IMDSLag, _ = p.duration(c, "ec2.imdsLag")
	}
	if c := f["describeLag"]; c != nil {
		e.DescribeLag, _ = p.duration(c, "ec2.describeLag")
	}
}

// throttle reads ec2.throttle: aws, none, or per-action token buckets.
func (p *parser) throttle(c *yaml.Node) {
	e := &p.sc.EC2
	if c.Kind == yaml.ScalarNode {
		if c.Value != "aws" && c.Value != "none" {
			p.add(c, "ec2.throttle", "want aws, none or a mapping {Action: {capacity: N, refill: N}}, got %q", c.Value)
		} else {
			e.Throttle = c.Value
		}
		return
	}
	keys, vals := p.pairs(c, "ec2.throttle", "EC2 actions to {capacity, refill}")
	e.Throttle = "custom"
	e.Buckets = map[string]Bucket{}
	for i, k := range keys {
		path := join("ec2.throttle", k.Value)
		a, aok := p.action(k, path)
		if b, ok := p.bucket(vals[i], path); ok && aok {
			e.Buckets[a] = b
		}
	}
}

// bucket reads one action's {capacity, refill}.
func (p *parser) bucket(n *yaml.Node, path string) (Bucket, bool) {
	bf := p.fields(n, path, []string{"capacity", "refill"})
	if bf == nil {
		return Bucket{}, false
	}
	var b Bucket
	good, ok := true, true
	if v := bf["capacity"]; v != nil {
		b.Capacity, ok = p.count(v, join(path, "capacity"), 1)
		good = good && ok
	} else {
		p.add(n, join(path, "capacity"), "missing")
		good = false
	}
	if v := bf["refill"]; v != nil {
		b.Refill, ok = p.count(v, join(path, "refill"), 0)
		good = good && ok
	} else {
		p.add(n, join(path, "refill"), "missing (tokens added per second of lab time)")
		good = false
	}
	return b, good
}

// latency reads ec2.latency: per-action fixed latencies or ranges.
func (p *parser) latency(c *yaml.Node) {
	e := &p.sc.EC2
	keys, vals := p.pairs(c, "ec2.latency", "EC2 actions to latencies (3s or 1s-3s)")
	e.Latency = map[string]LatencyRange{}
	for i, k := range keys {
		path := join("ec2.latency", k.Value)
		a, aok := p.action(k, path)
		s, sok := p.scalar(vals[i], path, "a latency such as 2s or 1s-3s")
		if !aok || !sok {
			continue
		}
		if l, err := parseRange(s); err != nil {
			p.add(vals[i], path, "%v", err)
		} else {
			e.Latency[a] = l
		}
	}
}

func parseRange(s string) (LatencyRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	min, err := parseDuration(lo)
	if err != nil {
		return LatencyRange{}, err
	}
	if !isRange {
		return LatencyRange{Min: min, Max: min}, nil
	}
	max, err := parseDuration(hi)
	if err != nil {
		return LatencyRange{}, err
	}
	if max < min {
		return LatencyRange{}, fmt.Errorf("bad latency range %q: the minimum is above the maximum", s)
	}
	return LatencyRange{Min: min, Max: max}, nil
}
