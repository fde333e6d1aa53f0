package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
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
	sc.Warnings = p.warns.sorted()
	return sc, nil
}

// parser collects every problem of one file; the section parsers (parse_*.go)
// fill sc and the cross-reference tables later sections check against.
type parser struct {
	file  string
	probs Problems
	warns Problems
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
	p.addAt(line, field, format, args...)
}

// addAt reports a problem at a line that is not one node's (0 = none).
func (p *parser) addAt(line int, field, format string, args ...any) {
	p.probs = append(p.probs, Problem{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// warn records something the VPC CNI accepts but does differently from
// what the file seems to ask.
func (p *parser) warn(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.warns = append(p.warns, Problem{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// topFields are the top-level keys of a scenario file.
var topFields = []string{"name", "description", "seed", "timeScale", "datapath", "vpc", "ec2", "ipamd", "eniConfigs", "securityGroups", "securityGroupPolicies", "hosts", "cni", "nodes", "steps", "matrix"}

func (p *parser) parse(data []byte) *Scenario {
	root, line, msg := decodeYAML(data)
	if msg != "" {
		p.addAt(line, "", "%s", msg)
		return nil
	}
	return p.parseRoot(root)
}

// parseRoot reads a decoded document (a matrix variant is one).
func (p *parser) parseRoot(root *yaml.Node) *Scenario {
	sc := &Scenario{File: p.file, TimeScale: 1, EC2: EC2{Throttle: "aws"}, IPAMDEnv: map[string]string{}}
	p.sc = sc
	p.subnets = map[string]Subnet{}
	p.nodeSet = map[string]bool{}
	p.nodeLine = map[string]int{}
	p.eniCfgLine = map[string]int{}

	top := p.fields(root, "", topFields)
	if top == nil {
		return nil
	}
	p.header(top)
	p.sections(root, top)
	if n := top["matrix"]; n != nil {
		p.matrix(n)
	}
	p.impossibleExpects()
	return sc
}

// header reads name, description, seed and timeScale.
func (p *parser) header(top map[string]*yaml.Node) {
	sc := p.sc
	if n := top["name"]; n != nil {
		sc.Name, _ = p.str(n, "name")
	}
	if sc.Name == "" {
		sc.Name = strings.TrimSuffix(filepath.Base(p.file), filepath.Ext(p.file))
	}
	if n := top["description"]; n != nil {
		sc.Description, _ = p.str(n, "description")
	}
	if n := top["seed"]; n != nil {
		if v, ok := p.int64(n, "seed"); ok {
			sc.Seed = v
		}
	}
	if n := top["datapath"]; n != nil {
		sc.Datapath, _ = p.datapath(n, "datapath")
	}
	if n := top["timeScale"]; n != nil {
		if v, ok := p.float(n, "timeScale"); ok {
			if err := sc.UseTimeScale(v); err != nil {
				p.add(n, "timeScale", "%v", err)
			}
		}
	}
}

// UseTimeScale makes lab time d take d×v real time: the file's timeScale,
// or `enilab run --time-scale` over it. v must be > 0 and ≤ 10.
func (sc *Scenario) UseTimeScale(v float64) error {
	if !(v > 0 && v <= 10) {
		return fmt.Errorf("must be > 0 and ≤ 10 (lab time d takes d×timeScale real time), got %v", v)
	}
	sc.TimeScale = v
	return nil
}

// sections reads the rest in dependency order: subnets before the nodes and
// ENIConfigs that name them, ipamd settings before the instance types they
// constrain, nodes before the steps that name them.
func (p *parser) sections(root *yaml.Node, top map[string]*yaml.Node) {
	if n := top["vpc"]; n != nil {
		p.vpc(n)
		p.checkEgress(n)
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
	if n := top["cni"]; n != nil {
		p.sc.CNI.Plugin = p.cni(n, "cni")
	}
	if n := top["securityGroups"]; n != nil {
		p.securityGroupList(n)
	}
	if n := top["securityGroupPolicies"]; n != nil {
		p.securityGroupPolicies(n)
	}
	if n := top["hosts"]; n != nil {
		p.hosts(n)
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
}
