package scenario

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// YAML node helpers: every reader checks the node's kind and reports a
// problem at the node's line, so the section parsers stay declarative.

var yamlLine = regexp.MustCompile(`line (\d+)`)

// decodeYAML returns the document's root node, or a problem (line 0 when
// the decoder names none) saying why there is none.
func decodeYAML(data []byte) (root *yaml.Node, line int, problem string) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml.v3 has no structured syntax error: the line is only in
		// the text ("yaml: line 2: did not find expected node content").
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.TrimSpace(yamlLine.ReplaceAllString(msg, ""))
			msg = strings.TrimPrefix(msg, ": ")
		}
		return nil, line, "not valid YAML: " + msg
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, 0, "the file is empty; a scenario needs at least vpc, nodes and steps"
	}
	return resolve(doc.Content[0]), 0, ""
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
		if !slices.Contains(known, key) {
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

// valueOf returns the value of key in the mapping n, or n itself when it
// has none, so a problem can point at the exact line.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}
