package scenario

import (
	"fmt"
	"github.com/enilab/enilab/ipamd/config"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/enilab/enilab/internal/ec2limits"
)

// Load reads and parses a scenario file; see Parse.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a scenario. A file with anything wrong yields a
// Problems error that lists every problem at once, each with its line and
// field, sorted by line.
func Parse(file string, data []byte) (*Scenario, error) {
	p := &parser{file: file}
	sc := p.parse(data)
	if len(p.probs) > 0 {
		return nil, p.probs.sorted()
	}
	return sc, nil
}

type parser struct {
	file  string
	probs Problems
	sc    *Scenario

	subnets    map[string]Subnet
	nodeSet    map[string]bool
	nodeLine   map[string]int
	enabledPD  bool
	customNet  bool
	eniCfgLine map[string]int
}

func (p *parser) add(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.probs = append(p.probs, Problem{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func (p *parser) parse(data []byte) *Scenario {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.TrimSpace(yamlLine.ReplaceAllString(msg, ""))
			msg = strings.TrimPrefix(msg, ": ")
		}
		p.probs = append(p.probs, Problem{File: p.file, Line: line, Msg: "not valid YAML: " + msg})
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.add(nil, "", "the file is empty; a scenario needs at least vpc, nodes and steps")
		return nil
	}
	root := resolve(doc.Content[0])
	sc := &Scenario{File: p.file, TimeScale: 1, EC2: EC2{Throttle: "aws"}, IPAMDEnv: map[string]string{}}
	p.sc = sc
	p.subnets = map[string]Subnet{}
	p.nodeSet = map[string]bool{}
	p.nodeLine = map[string]int{}
	p.eniCfgLine = map[string]int{}

	top := p.fields(root, "", []string{"name", "description", "seed", "timeScale", "vpc", "ec2", "ipamd", "eniConfigs", "nodes", "steps"})
	if top == nil {
		return nil
	}
	if n := top["name"]; n != nil {
		sc.Name, _ = p.str(n, "name")
	}
	if sc.Name == "" {
		sc.Name = strings.TrimSuffix(filepath.Base(p.file), filepath.Ext(p.file))
	}
	if n := top["description"]; n != nil {
		p.str(n, "description")
	}
	if n := top["seed"]; n != nil {
		if v, ok := p.int64(n, "seed"); ok {
			sc.Seed = v
		}
	}
	if n := top["timeScale"]; n != nil {
		if v, ok := p.float(n, "timeScale"); ok {
			if v <= 0 || v > 10 {
				p.add(n, "timeScale", "must be > 0 and ≤ 10 (lab time d takes d×timeScale real time), got %v", v)
			} else {
				sc.TimeScale = v
			}
		}
	}
	if n := top["vpc"]; n != nil {
		p.vpc(n)
	} else {
		p.add(root, "vpc", "missing: a scenario needs a vpc with a cidr and at least one subnet")
	}
	if n := top["ipamd"]; n != nil {
		p.ipamd(n)
	}
	if n := top["ec2"]; n != nil {
		p.ec2(n)
	}
	if n := top["eniConfigs"]; n != nil {
		p.eniConfigs(n)
	}
	if n := top["nodes"]; n != nil {
		p.nodes(n)
	} else {
		p.add(root, "nodes", "missing: a scenario needs at least one node")
	}
	if p.customNet {
		at := top["eniConfigs"]
		if at == nil {
			// Nothing to point at but the setting that asks for them.
			at = top["ipamd"]
		}
		p.checkCustomNetworking(at)
	}
	if n := top["steps"]; n != nil {
		p.steps(n)
	}
	return sc
}

// resolve follows YAML aliases so anchors can be used anywhere.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// fields checks that n is a mapping with only known keys (each at most once)
// and returns the value node of each key present. It returns nil, having
// reported the problem, when n is not a mapping.
func (p *parser) fields(n *yaml.Node, path string, known []string) map[string]*yaml.Node {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.add(n, path, "want a mapping of %s, got %s", strings.Join(known, ", "), kindName(n))
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		key := k.Value
		if !contains(known, key) {
			msg := fmt.Sprintf("unknown field %q", key)
			if s := suggest(key, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += " (known: " + strings.Join(known, ", ") + ")"
			}
			p.add(k, join(path, key), "%s", msg)
			continue
		}
		if _, dup := out[key]; dup {
			p.add(k, join(path, key), "given twice")
			continue
		}
		out[key] = v
	}
	return out
}

// pairs returns a mapping's keys and values in file order.
func (p *parser) pairs(n *yaml.Node, path, what string) (keys []*yaml.Node, vals []*yaml.Node) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.add(n, path, "want a mapping of %s, got %s", what, kindName(n))
		return nil, nil
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if seen[k.Value] {
			p.add(k, join(path, k.Value), "given twice")
			continue
		}
		seen[k.Value] = true
		keys = append(keys, k)
		vals = append(vals, resolve(n.Content[i+1]))
	}
	return keys, vals
}

func (p *parser) list(n *yaml.Node, path, what string) []*yaml.Node {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, path, "want a list of %s, got %s", what, kindName(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = resolve(c)
	}
	return out
}

func (p *parser) scalar(n *yaml.Node, path, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.add(n, path, "want %s, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	s, ok := p.scalar(n, path, "a string")
	if ok && s == "" {
		p.add(n, path, "must not be empty")
		return "", false
	}
	return s, ok
}

func (p *parser) int64(n *yaml.Node, path string) (int64, bool) {
	s, ok := p.scalar(n, path, "a whole number")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		p.add(n, path, "want a whole number, got %q", s)
		return 0, false
	}
	return v, true
}

// count parses a whole number ≥ min.
func (p *parser) count(n *yaml.Node, path string, min int) (int, bool) {
	v, ok := p.int64(n, path)
	if !ok {
		return 0, false
	}
	if v < int64(min) || v > math.MaxInt32 {
		p.add(n, path, "want a whole number ≥ %d, got %d", min, v)
		return 0, false
	}
	return int(v), true
}

func (p *parser) float(n *yaml.Node, path string) (float64, bool) {
	s, ok := p.scalar(n, path, "a number")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		p.add(n, path, "want a number, got %q", s)
		return 0, false
	}
	return v, true
}

func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := p.scalar(n, path, "a duration such as 30s or 1m30s")
	if !ok {
		return 0, false
	}
	d, err := parseDuration(s)
	if err != nil {
		p.add(n, path, "%v", err)
		return 0, false
	}
	return d, true
}

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return 0, fmt.Errorf("bad duration %q: give a unit, e.g. %ss", s, s)
		}
		return 0, fmt.Errorf("bad duration %q: want a duration such as 500ms, 30s or 1m30s", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("bad duration %q: must not be negative", s)
	}
	return d, nil
}

func (p *parser) prefix(n *yaml.Node, path string) (netip.Prefix, bool) {
	s, ok := p.scalar(n, path, "an IPv4 CIDR such as 10.0.0.0/16")
	if !ok {
		return netip.Prefix{}, false
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil || !pfx.Addr().Is4() {
		p.add(n, path, "bad CIDR %q: want an IPv4 CIDR such as 10.0.0.0/16", s)
		return netip.Prefix{}, false
	}
	if pfx.Masked() != pfx {
		p.add(n, path, "bad CIDR %q: host bits are set (did you mean %s?)", s, pfx.Masked())
		return netip.Prefix{}, false
	}
	return pfx, true
}

func (p *parser) strMap(n *yaml.Node, path string) map[string]string {
	keys, vals := p.pairs(n, path, "string keys to string values")
	out := map[string]string{}
	for i, k := range keys {
		if v, ok := p.scalar(vals[i], join(path, k.Value), "a string"); ok {
			out[k.Value] = v
		}
	}
	return out
}

func (p *parser) vpc(n *yaml.Node) {
	f := p.fields(n, "vpc", []string{"cidr", "secondaryCidrs", "subnets", "reservations"})
	if f == nil {
		return
	}
	v := &p.sc.VPC
	if c := f["cidr"]; c != nil {
		if pfx, ok := p.prefix(c, "vpc.cidr"); ok {
			if pfx.Bits() < 16 || pfx.Bits() > 28 {
				p.add(c, "vpc.cidr", "a VPC CIDR must be between /16 and /28, got /%d", pfx.Bits())
			} else {
				v.CIDR = pfx
			}
		}
	} else {
		p.add(n, "vpc.cidr", "missing")
	}
	if c := f["secondaryCidrs"]; c != nil {
		for i, e := range p.list(c, "vpc.secondaryCidrs", "CIDRs") {
			path := index("vpc.secondaryCidrs", i)
			pfx, ok := p.prefix(e, path)
			if !ok {
				continue
			}
			if pfx.Bits() < 16 || pfx.Bits() > 28 {
				p.add(e, path, "a VPC CIDR must be between /16 and /28, got /%d", pfx.Bits())
				continue
			}
			clash := false
			for _, o := range append([]netip.Prefix{v.CIDR}, v.SecondaryCIDRs...) {
				if o.IsValid() && o.Overlaps(pfx) {
					p.add(e, path, "%s overlaps the VPC's %s", pfx, o)
					clash = true
				}
			}
			if !clash {
				v.SecondaryCIDRs = append(v.SecondaryCIDRs, pfx)
			}
		}
	}
	if c := f["subnets"]; c != nil {
		for i, e := range p.list(c, "vpc.subnets", "subnets") {
			p.subnet(e, index("vpc.subnets", i))
		}
	}
	if len(v.Subnets) == 0 && (f["subnets"] == nil || len(resolve(f["subnets"]).Content) == 0) {
		p.add(n, "vpc.subnets", "missing: the VPC needs at least one subnet")
	}
	if c := f["reservations"]; c != nil {
		for i, e := range p.list(c, "vpc.reservations", "reservations") {
			p.reservation(e, index("vpc.reservations", i))
		}
	}
}

var (
	subnetIDRe = regexp.MustCompile(`^subnet-[a-z0-9-]+$`)
	sgIDRe     = regexp.MustCompile(`^sg-[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	azRe       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d[a-z]$`)
	nodeNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	envNameRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	ec2CodeRe  = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*(\.[A-Z][A-Za-z0-9]*)*$`)
	podRefRe   = regexp.MustCompile(`^(.+)/pod-(\d+)$`)
)

func (p *parser) subnet(n *yaml.Node, path string) {
	f := p.fields(n, path, []string{"id", "cidr", "az", "tags"})
	if f == nil {
		return
	}
	s := Subnet{AZ: "us-west-2a"}
	ok := true
	if c := f["id"]; c != nil {
		id, good := p.str(c, join(path, "id"))
		switch {
		case !good:
			ok = false
		case !subnetIDRe.MatchString(id):
			p.add(c, join(path, "id"), "bad subnet id %q: want subnet-<lowercase letters, digits, dashes>", id)
			ok = false
		case p.subnets[id].ID != "":
			p.add(c, join(path, "id"), "subnet %q is defined twice", id)
			ok = false
		}
		s.ID = id
	} else {
		p.add(n, join(path, "id"), "missing")
		ok = false
	}
	if c := f["cidr"]; c != nil {
		pfx, good := p.prefix(c, join(path, "cidr"))
		if good {
			s.CIDR = pfx
			ok = p.subnetCIDR(c, join(path, "cidr"), pfx) && ok
		} else {
			ok = false
		}
	} else {
		p.add(n, join(path, "cidr"), "missing")
		ok = false
	}
	if c := f["az"]; c != nil {
		if az, good := p.str(c, join(path, "az")); good {
			if !azRe.MatchString(az) {
				p.add(c, join(path, "az"), "bad availability zone %q: want e.g. us-west-2a", az)
			}
			s.AZ = az
		}
	}
	if c := f["tags"]; c != nil {
		s.Tags = p.strMap(c, join(path, "tags"))
	}
	if s.ID != "" {
		// Registered even when partly wrong, so references to it do not
		// add a second, misleading problem.
		p.subnets[s.ID] = s
	}
	if ok {
		p.sc.VPC.Subnets = append(p.sc.VPC.Subnets, s)
	}
}

func (p *parser) subnetCIDR(n *yaml.Node, path string, pfx netip.Prefix) bool {
	v := p.sc.VPC
	if pfx.Bits() < 16 || pfx.Bits() > 28 {
		p.add(n, path, "a subnet must be between /16 and /28, got /%d", pfx.Bits())
		return false
	}
	if v.CIDR.IsValid() {
		inside := false
		for _, o := range append([]netip.Prefix{v.CIDR}, v.SecondaryCIDRs...) {
			if o.Bits() <= pfx.Bits() && o.Contains(pfx.Addr()) {
				inside = true
			}
		}
		if !inside {
			all := []string{v.CIDR.String()}
			for _, o := range v.SecondaryCIDRs {
				all = append(all, o.String())
			}
			p.add(n, path, "subnet %s is outside the VPC (%s)", pfx, strings.Join(all, ", "))
			return false
		}
	}
	for _, o := range v.Subnets {
		if o.CIDR.Overlaps(pfx) {
			p.add(n, path, "subnet %s overlaps %s (%s)", pfx, o.ID, o.CIDR)
			return false
		}
	}
	return true
}

func (p *parser) subnetRef(n *yaml.Node, path string) (Subnet, bool) {
	id, ok := p.str(n, path)
	if !ok {
		return Subnet{}, false
	}
	s, found := p.subnets[id]
	if !found {
		msg := fmt.Sprintf("unknown subnet %q", id)
		if sg := suggest(id, sortedKeys(p.subnets)); sg != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sg)
		} else if len(p.subnets) > 0 {
			msg += " (defined: " + strings.Join(sortedKeys(p.subnets), ", ") + ")"
		}
		p.add(n, path, "%s", msg)
		return Subnet{}, false
	}
	return s, true
}

// subnetField reads the required `subnet` of the mapping n (fields f): a
// reservation, an ENIConfig and a node each name the subnet they live in.
func (p *parser) subnetField(f map[string]*yaml.Node, n *yaml.Node, path string) (Subnet, bool) {
	v := f["subnet"]
	if v == nil {
		p.add(n, join(path, "subnet"), "missing")
		return Subnet{}, false
	}
	return p.subnetRef(v, join(path, "subnet"))
}

func (p *parser) reservation(n *yaml.Node, path string) {
	f := p.fields(n, path, []string{"subnet", "cidr", "type"})
	if f == nil {
		return
	}
	r := Reservation{}
	ok := true
	var sub Subnet
	sub, ok = p.subnetField(f, n, path)
	r.Subnet = sub.ID
	if c := f["cidr"]; c != nil {
		pfx, good := p.prefix(c, join(path, "cidr"))
		if good && sub.CIDR.IsValid() && !(sub.CIDR.Bits() <= pfx.Bits() && sub.CIDR.Contains(pfx.Addr())) {
			p.add(c, join(path, "cidr"), "reservation %s is outside subnet %s (%s)", pfx, sub.ID, sub.CIDR)
			good = false
		}
		r.CIDR = pfx
		ok = ok && good
	} else {
		p.add(n, join(path, "cidr"), "missing")
		ok = false
	}
	if c := f["type"]; c != nil {
		t, good := p.str(c, join(path, "type"))
		if good && t != "prefix" && t != "explicit" {
			p.add(c, join(path, "type"), "want prefix or explicit, got %q", t)
			good = false
		}
		r.Type = t
		ok = ok && good
	} else {
		p.add(n, join(path, "type"), "missing (prefix or explicit)")
		ok = false
	}
	if ok {
		p.sc.VPC.Reservations = append(p.sc.VPC.Reservations, r)
	}
}

// Actions fakeec2 serves; throttle, latency and fault operations name them.
var ec2Actions = []string{
	"AssignPrivateIpAddresses", "AssociateVpcCidrBlock", "AttachNetworkInterface", "CreateNetworkInterface",
	"CreateSecurityGroup", "CreateSubnet", "CreateSubnetCidrReservation", "CreateTags", "CreateVpc",
	"DeleteNetworkInterface", "DeleteTags", "DescribeInstanceTypes", "DescribeInstances",
	"DescribeNetworkInterfaces", "DescribeSecurityGroups", "DescribeSubnets", "DescribeVpcs",
	"DetachNetworkInterface", "ModifyNetworkInterfaceAttribute", "RunInstances", "TerminateInstances",
	"UnassignPrivateIpAddresses",
}

func (p *parser) action(n *yaml.Node, path string) (string, bool) {
	a, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if !contains(ec2Actions, a) {
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
		switch c.Kind {
		case yaml.ScalarNode:
			if c.Value != "aws" && c.Value != "none" {
				p.add(c, "ec2.throttle", "want aws, none or a mapping {Action: {capacity: N, refill: N}}, got %q", c.Value)
			} else {
				e.Throttle = c.Value
			}
		default:
			keys, vals := p.pairs(c, "ec2.throttle", "EC2 actions to {capacity, refill}")
			e.Throttle = "custom"
			e.Buckets = map[string]Bucket{}
			for i, k := range keys {
				path := join("ec2.throttle", k.Value)
				a, aok := p.action(k, path)
				bf := p.fields(vals[i], path, []string{"capacity", "refill"})
				if bf == nil {
					continue
				}
				var b Bucket
				good := aok
				if v := bf["capacity"]; v != nil {
					b.Capacity, aok = p.count(v, join(path, "capacity"), 1)
					good = good && aok
				} else {
					p.add(vals[i], join(path, "capacity"), "missing")
					good = false
				}
				if v := bf["refill"]; v != nil {
					b.Refill, aok = p.count(v, join(path, "refill"), 0)
					good = good && aok
				} else {
					p.add(vals[i], join(path, "refill"), "missing (tokens added per second of lab time)")
					good = false
				}
				if good {
					e.Buckets[a] = b
				}
			}
		}
	}
	if c := f["latency"]; c != nil {
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
	if c := f["imdsLag"]; c != nil {
		e.IMDSLag, _ = p.duration(c, "ec2.imdsLag")
	}
	if c := f["describeLag"]; c != nil {
		e.DescribeLag, _ = p.duration(c, "ec2.describeLag")
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

// ipamd variables enilab knows (upstream names), for "did you mean"; values
// are checked by ipamd's own parser, so validate says exactly what ipamd
// would. Unknown variables pass through.
var knownEnv = []string{
	"WARM_ENI_TARGET", "WARM_IP_TARGET", "MINIMUM_IP_TARGET", "WARM_PREFIX_TARGET", "MAX_ENI",
	"IP_COOLDOWN_PERIOD", "AWS_VPC_ENI_MTU", "POD_MTU", "ENABLE_PREFIX_DELEGATION",
	"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", "ENABLE_SUBNET_DISCOVERY", "DISABLE_LEAKED_ENI_CLEANUP",
	"AWS_VPC_K8S_CNI_EXTERNALSNAT", "ENI_CONFIG_LABEL_DEF", "AWS_VPC_K8S_CNI_VETHPREFIX", "CLUSTER_NAME",
	"ADDITIONAL_ENI_TAGS", "AWS_VPC_K8S_CNI_LOGLEVEL",
}

func (p *parser) ipamd(n *yaml.Node) {
	f := p.fields(n, "ipamd", []string{"env"})
	if f == nil || f["env"] == nil {
		return
	}
	keys, vals := p.pairs(f["env"], "ipamd.env", "environment variables to values")
	for i, k := range keys {
		path := join("ipamd.env", k.Value)
		if !envNameRe.MatchString(k.Value) {
			p.add(k, path, "not an environment variable name")
			continue
		}
		v, ok := p.scalar(vals[i], path, "a value")
		if !ok {
			continue
		}
		if !contains(knownEnv, k.Value) {
			if s := suggest(k.Value, knownEnv); s != "" {
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
			p.add(vals[i], path, "%s", strings.TrimPrefix(err.Error(), "ipamd configuration: "))
			continue
		}
		p.sc.IPAMDEnv[k.Value] = v
	}
	cfg, err := config.FromEnv(func(q string) (string, bool) { v, ok := p.sc.IPAMDEnv[q]; return v, ok })
	if err != nil {
		// Each variable was fine alone: a combination is not.
		p.add(f["env"], "ipamd.env", "%s", strings.TrimPrefix(err.Error(), "ipamd configuration: "))
	}
	p.enabledPD, p.customNet = cfg.EnablePrefixDelegation, cfg.CustomNetworking
}

func (p *parser) eniConfigs(n *yaml.Node) {
	for i, e := range p.list(n, "eniConfigs", "ENIConfigs") {
		path := index("eniConfigs", i)
		f := p.fields(e, path, []string{"name", "subnet", "securityGroups"})
		if f == nil {
			continue
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
			// The lab creates these groups under exactly these ids, so they
			// must be ids, not names.
			sgPath := join(path, "securityGroups")
			for j, x := range p.list(v, sgPath, "security group ids") {
				id, good := p.str(x, index(sgPath, j))
				if good && !sgIDRe.MatchString(id) {
					p.add(x, index(sgPath, j), "bad security group id %q: want sg-<lowercase letters, digits, dashes>, e.g. sg-1", id)
					good = false
				}
				if good {
					c.SecurityGroups = append(c.SecurityGroups, id)
				}
				ok = ok && good
			}
		}
		if ok {
			p.sc.ENIConfigs = append(p.sc.ENIConfigs, c)
		}
	}
}

// checkCustomNetworking makes sure every node finds an ENIConfig by its zone
// (or ENI_CONFIG_LABEL_DEF label) in its own AZ, as ipamd needs at start.
func (p *parser) checkCustomNetworking(at *yaml.Node) {
	if len(p.sc.ENIConfigs) == 0 {
		p.add(at, "eniConfigs", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG is true but no eniConfigs are defined")
		return
	}
	// Upstream reads the ENIConfig name from the label k8s.amazonaws.com/eniConfig
	// unless ENI_CONFIG_LABEL_DEF names another (EKS users set it to the
	// zone label), and falls back to an ENIConfig named "default".
	labelDef := p.sc.IPAMDEnv["ENI_CONFIG_LABEL_DEF"]
	if labelDef == "" {
		labelDef = "k8s.amazonaws.com/eniConfig"
	}
	byName := map[string]ENIConfig{}
	for _, c := range p.sc.ENIConfigs {
		byName[c.Name] = c
	}
	for _, nd := range p.sc.Nodes {
		zone := p.subnets[nd.Subnet].AZ
		want, ok := nd.Labels[labelDef]
		if !ok && labelDef == "topology.kubernetes.io/zone" {
			want, ok = zone, true
		}
		if !ok {
			want = "default"
		}
		field := fmt.Sprintf("nodes (%s)", nd.Name)
		line := p.nodeLine[nd.Name]
		switch c, found := byName[want]; {
		case !found && !ok:
			p.probs = append(p.probs, Problem{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf("custom networking: the node has no label %s, and there is no ENIConfig named \"default\" (set ENI_CONFIG_LABEL_DEF: topology.kubernetes.io/zone to select ENIConfigs by zone)", labelDef)})
		case !found:
			p.probs = append(p.probs, Problem{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf("custom networking: no ENIConfig named %q (the node's %s)", want, labelDef)})
		case p.subnets[c.Subnet].AZ != zone:
			p.probs = append(p.probs, Problem{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf("custom networking: ENIConfig %q uses %s in %s, but the node is in %s", c.Name, c.Subnet, p.subnets[c.Subnet].AZ, zone)})
		}
	}
}

func (p *parser) nodes(n *yaml.Node) {
	items := p.list(n, "nodes", "node groups")
	if len(items) == 0 && (n.Kind == yaml.SequenceNode || n.Tag == "!!null") {
		p.add(n, "nodes", "a scenario needs at least one node")
	}
	for i, e := range items {
		path := index("nodes", i)
		f := p.fields(e, path, []string{"name", "count", "instanceType", "subnet", "maxPods", "labels"})
		if f == nil {
			continue
		}
		spec := NodeSpec{}
		ok := true
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
		count := 0
		if v := f["count"]; v != nil {
			c, good := p.count(v, join(path, "count"), 1)
			if good && c > 64 {
				p.add(v, join(path, "count"), "at most 64 nodes per group, got %d", c)
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
		names := []string{spec.Name}
		if count > 0 {
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
		p.add(n, path, "ENABLE_PREFIX_DELEGATION needs a Nitro or bare-metal instance type; %s is %s", t, lt.Hypervisor)
		return "", false
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
		if s := suggest(name, sortedKeys(p.nodeSet)); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(p.nodeSet) > 0 {
			msg += " (nodes: " + strings.Join(sortedKeys(p.nodeSet), ", ") + ")"
		}
		p.add(n, path, "%s", msg)
		return "", false
	}
	return name, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns the candidate closest to s when it is close enough to be a
// likely typo, else "".
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	if len(s) <= 4 {
		bestD = 2
	}
	ls := strings.ToLower(s)
	for _, c := range candidates {
		if d := editDistance(ls, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
