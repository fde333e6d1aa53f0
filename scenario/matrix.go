package scenario

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// A scenario's `matrix:` names settings and the values to try, e.g.
//
//	matrix:
//	  ipamd.env.WARM_IP_TARGET: ["0", "5"]
//	  ipamd.env.MINIMUM_IP_TARGET: ["0", "10"]
//
// Each key is a path into the file (mapping keys, list indexes as numbers);
// every combination of values is one variant: the file with those values
// set, same seed and same steps, parsed and checked as a file of its own.

// Variant is one configuration of a comparison.
type Variant struct {
	// Name says what the variant sets ("WARM_IP_TARGET=5 MINIMUM_IP_TARGET=10"),
	// or is the scenario's name when it has no matrix.
	Name     string
	Scenario *Scenario
}

// maxVariants bounds a matrix's combinations.
const maxVariants = 64

// LoadVariants reads a scenario file and returns its variants: one per
// combination of its matrix, or the scenario itself without one.
func LoadVariants(path string) ([]Variant, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return ParseVariants(path, data)
}

// ParseVariants is LoadVariants on a file's contents. Problems in the
// matrix or in any variant come back together, as Parse's do.
func ParseVariants(file string, data []byte) ([]Variant, error) {
	sc, err := Parse(file, data)
	if err != nil {
		return nil, err
	}
	if len(sc.Matrix) == 0 {
		return []Variant{{Name: sc.Name, Scenario: sc}}, nil
	}
	root, _, _ := decodeYAML(data) // Parse succeeded: the document is valid
	var out []Variant
	var probs Problems
	for _, combo := range combinations(sc.Matrix) {
		doc := cloneNode(root)
		removeKey(doc, "matrix")
		var names []string
		for i, ax := range sc.Matrix {
			setPath(doc, ax.path, combo[i])
			names = append(names, ax.short()+"="+combo[i].Value)
		}
		p := &parser{file: file}
		v := p.parseRoot(doc)
		if len(p.probs) > 0 {
			for _, pr := range p.probs {
				pr.Msg = fmt.Sprintf("in variant %s: %s", strings.Join(names, " "), pr.Msg)
				probs = append(probs, pr)
			}
			continue
		}
		v.Warnings = p.warns.sorted()
		out = append(out, Variant{Name: strings.Join(names, " "), Scenario: v})
	}
	if len(probs) > 0 {
		return nil, probs.sorted()
	}
	return out, nil
}

// MatrixAxis is one key of `matrix:`: a path into the file and the values
// it takes.
type MatrixAxis struct {
	Path   string
	Values []string
	path   []string
	values []*yaml.Node
}

// short is the path's last key, what a table header shows.
func (a MatrixAxis) short() string { return a.path[len(a.path)-1] }

// matrix reads `matrix:`: a mapping of paths to non-empty lists of scalars.
func (p *parser) matrix(n *yaml.Node) {
	keys, vals := p.pairs(n, "matrix", "setting paths to lists of values")
	total := 1
	for i, k := range keys {
		path := "matrix." + k.Value
		if k.Value == "" || strings.HasPrefix(k.Value, "matrix") || strings.HasPrefix(k.Value, "steps") {
			p.add(k, path, "a matrix key is a path to a setting, e.g. ipamd.env.WARM_IP_TARGET (not matrix or steps)")
			continue
		}
		items := p.list(vals[i], path, "values")
		if len(items) == 0 {
			p.add(vals[i], path, "give at least one value")
			continue
		}
		ax := MatrixAxis{Path: k.Value, path: strings.Split(k.Value, ".")}
		for j, it := range items {
			if it.Kind != yaml.ScalarNode {
				p.add(it, index(path, j), "want a value (string or number), got %s", kindName(it))
				continue
			}
			ax.Values = append(ax.Values, it.Value)
			ax.values = append(ax.values, it)
		}
		total *= len(ax.values)
		p.sc.Matrix = append(p.sc.Matrix, ax)
	}
	if total > maxVariants {
		p.add(n, "matrix", "%d combinations; at most %d", total, maxVariants)
	}
}

// combinations lists every choice of one value per axis, the first axis
// varying slowest.
func combinations(axes []MatrixAxis) [][]*yaml.Node {
	out := [][]*yaml.Node{nil}
	for _, ax := range axes {
		var next [][]*yaml.Node
		for _, prefix := range out {
			for _, v := range ax.values {
				next = append(next, append(append([]*yaml.Node(nil), prefix...), v))
			}
		}
		out = next
	}
	return out
}

// setPath sets the node at path (mapping keys; list indexes as numbers) to
// a copy of val, creating missing mapping keys on the way. A path that
// cannot be followed (an index past a list, a scalar in the way) sets
// nothing: the parse of the variant then reports what is missing.
func setPath(n *yaml.Node, path []string, val *yaml.Node) {
	for i, key := range path {
		last := i == len(path)-1
		switch n.Kind {
		case yaml.MappingNode:
			child := mapValue(n, key)
			if child == nil {
				child = &yaml.Node{Kind: yaml.MappingNode, Line: val.Line}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key, Line: val.Line}, child)
			}
			if last {
				*child = *cloneNode(val)
				return
			}
			n = child
		case yaml.SequenceNode:
			j, err := strconv.Atoi(key)
			if err != nil || j < 0 || j >= len(n.Content) {
				return
			}
			if last {
				*n.Content[j] = *cloneNode(val)
				return
			}
			n = n.Content[j]
		default:
			return
		}
	}
}

// mapValue is the value of key in the mapping n, nil without one.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func removeKey(n *yaml.Node, key string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content = append(n.Content[:i], n.Content[i+2:]...)
			return
		}
	}
}

// cloneNode copies a node tree (aliases keep pointing into the original,
// which is never changed).
func cloneNode(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = cloneNode(k)
	}
	return &c
}
