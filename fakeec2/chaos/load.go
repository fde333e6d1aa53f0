package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// LoadFaults reads fault rules from YAML or JSON: a list of rules, or a
// mapping with a "faults" list. Keys are those of Rule in lower case
// (name, kind, operations, percentage, after, start, duration, count,
// message); durations are strings like "30s"; operations may be a list or
// a comma-separated string and percentage a number or numeric string, as in
// FIS templates. Every problem is reported, each naming its line and field.
func LoadFaults(r io.Reader) ([]Rule, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read faults: %w", err)
	}
	return loadRules(b, false)
}

// LoadFaultsFile is LoadFaults on a file; errors start with its path.
func LoadFaultsFile(path string) ([]Rule, error) { return loadFile(path, LoadFaults) }

// loadFile runs load on the file at path; its errors start with the path
// (os.Open's already do), so a user knows which of several files is wrong.
func loadFile[T any](path string, load func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	v, err := load(f)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

func loadRules(b []byte, single bool) ([]Rule, error) {
	// YAML does not allow tabs as indentation but JSON does; in JSON they
	// mean nothing outside strings.
	var doc yaml.Node
	if err := yaml.Unmarshal(detab(b), &doc); err != nil {
		return nil, fmt.Errorf("faults: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		if single {
			return nil, errors.New("fault rule: empty")
		}
		return nil, nil
	}
	root := doc.Content[0]
	var items []*yaml.Node
	switch {
	case single:
		items = []*yaml.Node{root}
	case root.Kind == yaml.SequenceNode:
		items = root.Content
	case root.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(root.Content); i += 2 {
			k := root.Content[i]
			if k.Value != "faults" && k.Value != "rules" {
				return nil, fmt.Errorf("line %d: unknown field %q (want a list of rules or faults: [...])", k.Line, k.Value)
			}
			v := root.Content[i+1]
			if v.Kind != yaml.SequenceNode {
				return nil, fmt.Errorf("line %d: %s: want a list of rules", v.Line, k.Value)
			}
			items = append(items, v.Content...)
		}
	default:
		return nil, fmt.Errorf("line %d: want a list of fault rules", root.Line)
	}
	var rules []Rule
	var errs []error
	names := map[string]int{}
	for i, n := range items {
		r, rerrs := decodeRule(n)
		where := fmt.Sprintf("rule %d", i+1)
		if r.Name != "" {
			where = fmt.Sprintf("rule %d (%s)", i+1, r.Name)
			if prev, dup := names[r.Name]; dup {
				rerrs = append(rerrs, fmt.Errorf("line %d: name: %q already used by the rule on line %d", n.Line, r.Name, prev))
			}
			names[r.Name] = n.Line
		}
		for _, e := range rerrs {
			errs = append(errs, fmt.Errorf("%s: %w", where, e))
		}
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

func detab(b []byte) []byte {
	if bytes.IndexByte(b, '\t') < 0 {
		return b
	}
	if t := bytes.TrimSpace(b); len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return b // YAML: its own rules (and error) apply
	}
	var out bytes.Buffer
	inStr := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"' && (i == 0 || b[i-1] != '\\'):
			inStr = !inStr
		case c == '\n':
			inStr = false
		case c == '\t' && !inStr:
			c = ' '
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

// decodeRule reads one rule mapping, returning every problem with its line.
func decodeRule(n *yaml.Node) (Rule, []error) {
	if n.Kind != yaml.MappingNode {
		return Rule{}, []error{fmt.Errorf("line %d: want a mapping with kind, operations, percentage, …", n.Line)}
	}
	var d ruleDecoder
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.bad(k, k.Value, "given twice")
			continue
		}
		seen[k.Value] = true
		d.field(k, v)
	}
	if d.explicitZeroPct > 0 {
		d.errs = append(d.errs, fmt.Errorf("line %d: percentage: must be 1–100, got 0", d.explicitZeroPct))
	}
	d.validate(n)
	return d.r, d.errs
}

// ruleDecoder collects a rule and every problem found while reading it.
type ruleDecoder struct {
	r    Rule
	errs []error
	// explicitZeroPct is the line of a "percentage: 0", reported as such
	// rather than as a missing percentage.
	explicitZeroPct int
}

func (d *ruleDecoder) bad(v *yaml.Node, field, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("line %d: %s: %s", v.Line, field, fmt.Sprintf(format, args...)))
}

// field reads the value v of the field named by k.
func (d *ruleDecoder) field(k, v *yaml.Node) {
	field := k.Value
	switch field {
	case "name":
		d.stringField(v, field, &d.r.Name)
	case "kind":
		d.stringField(v, field, &d.r.Kind)
	case "message":
		d.stringField(v, field, &d.r.Message)
	case "operations":
		d.operations(v, field)
	case "percentage":
		d.intField(v, field, &d.r.Percentage)
		if d.r.Percentage == 0 && v.Kind == yaml.ScalarNode {
			d.explicitZeroPct = v.Line
		}
	case "after":
		d.intField(v, field, &d.r.After)
	case "count":
		d.intField(v, field, &d.r.Count)
	case "start":
		d.durField(v, field, &d.r.Start)
	case "duration":
		d.durField(v, field, &d.r.Duration)
	default:
		d.bad(k, field, "unknown field (want name, kind, operations, percentage, after, start, duration, count, message)")
	}
}

func (d *ruleDecoder) scalar(v *yaml.Node, field string) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		d.bad(v, field, "want a single value")
		return "", false
	}
	return v.Value, true
}

func (d *ruleDecoder) stringField(v *yaml.Node, field string, dst *string) {
	if s, ok := d.scalar(v, field); ok {
		*dst = s
	}
}

func (d *ruleDecoder) intField(v *yaml.Node, field string, dst *int) {
	if s, ok := d.scalar(v, field); ok {
		x, err := atoiLoose(s)
		if err != nil {
			d.bad(v, field, "want a whole number, got %q", s)
			return
		}
		*dst = x
	}
}

func (d *ruleDecoder) durField(v *yaml.Node, field string, dst *time.Duration) {
	if s, ok := d.scalar(v, field); ok {
		x, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			d.bad(v, field, "want a duration like \"30s\" or \"1m30s\", got %q", s)
			return
		}
		*dst = x
	}
}

// operations reads a list of action names, or one comma-separated string.
func (d *ruleDecoder) operations(v *yaml.Node, field string) {
	switch v.Kind {
	case yaml.ScalarNode:
		for _, op := range strings.Split(v.Value, ",") {
			if op = strings.TrimSpace(op); op != "" {
				d.r.Operations = append(d.r.Operations, op)
			}
		}
	case yaml.SequenceNode:
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode {
				d.bad(e, field, "want action names")
				continue
			}
			d.r.Operations = append(d.r.Operations, e.Value)
		}
	default:
		d.bad(v, field, "want a list of action names")
	}
}

// validate adds the rule's own validation problems, each at the line of
// the field it names (the mapping's line when it names none).
func (d *ruleDecoder) validate(n *yaml.Node) {
	err := d.r.Validate()
	if err == nil {
		return
	}
	for _, e := range unjoin(err) {
		line := n.Line
		if f := fieldOf(e); f != "" {
			if l := lineOf(n, f); l > 0 {
				line = l
			}
		}
		if fieldOf(e) == "percentage" && d.explicitZeroPct > 0 {
			continue
		}
		d.errs = append(d.errs, fmt.Errorf("line %d: %w", line, e))
	}
}

// UnmarshalYAML reads a rule as LoadFaults does, so scenario files can embed
// rules ({fault: {kind: throttle, operations: [...], duration: 30s}}).
func (r *Rule) UnmarshalYAML(n *yaml.Node) error {
	v, errs := decodeRule(n)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*r = v
	return nil
}

// UnmarshalYAML reads "3s" or "3s-10s".
func (l *Latency) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseLatency(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: latency: want a duration like 500ms or a range like 3s-10s, got %q", n.Line, n.Value)
	}
	*l = v
	return nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// fieldOf returns the field a Validate message starts with ("percentage: …").
func fieldOf(err error) string {
	f, _, ok := strings.Cut(err.Error(), ":")
	if !ok {
		return ""
	}
	f, _, _ = strings.Cut(f, "[")
	return f
}

func lineOf(n *yaml.Node, field string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == field {
			return n.Content[i+1].Line
		}
	}
	return 0
}
