package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Bucket is one EC2 token bucket: Capacity requests in a burst, Refill
// tokens added every second of lab time (never above Capacity).
type Bucket struct {
	Capacity int `json:"capacity" yaml:"capacity"`
	Refill   int `json:"refill" yaml:"refill"`
}

func (b Bucket) validate(key string) []error {
	var errs []error
	if b.Capacity < 1 {
		errs = append(errs, fmt.Errorf("throttle %s: capacity must be at least 1, got %d (use a throttle fault rule to refuse every call)", key, b.Capacity))
	}
	if b.Refill < 0 {
		errs = append(errs, fmt.Errorf("throttle %s: refill must not be negative, got %d", key, b.Refill))
	}
	return errs
}

type throttleMode uint8

const (
	modeAWS throttleMode = iota // the zero value: EC2 as documented
	modeNone
	modeCustom
)

// Throttle selects how requests are rate limited. The zero value is
// ThrottleAWS: a fake that never throttles would hide exactly the failures
// the lab exists to show.
type Throttle struct {
	mode   throttleMode
	custom map[string]Bucket
}

var (
	// ThrottleAWS applies EC2's documented buckets (DESIGN §2).
	ThrottleAWS = Throttle{mode: modeAWS}
	// ThrottleNone never throttles.
	ThrottleNone = Throttle{mode: modeNone}
)

// UnfilteredSuffix marks the separate bucket of DescribeInstances and
// DescribeNetworkInterfaces calls that are neither filtered nor paginated;
// a custom entry "DescribeNetworkInterfaces/unfiltered" sets that bucket
// only, while "DescribeNetworkInterfaces" sets both.
const UnfilteredSuffix = "/unfiltered"

// ThrottleCustom uses the given buckets per action (keys are action names,
// optionally with UnfilteredSuffix); unlisted actions keep the AWS defaults.
func ThrottleCustom(buckets map[string]Bucket) Throttle {
	m := make(map[string]Bucket, len(buckets))
	for k, v := range buckets {
		m[k] = v
	}
	return Throttle{mode: modeCustom, custom: m}
}

// ParseThrottle reads the command-line form: "aws", "none", or a
// comma-separated list of Action=capacity/refill, for example
// "RunInstances=5/2,DescribeNetworkInterfaces=20/4".
func ParseThrottle(s string) (Throttle, error) {
	switch strings.TrimSpace(s) {
	case "", "aws":
		return ThrottleAWS, nil
	case "none", "off":
		return ThrottleNone, nil
	}
	m := map[string]Bucket{}
	var errs []error
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		action, spec, ok := strings.Cut(part, "=")
		capS, refS, ok2 := strings.Cut(spec, "/")
		if !ok || !ok2 {
			errs = append(errs, fmt.Errorf("throttle %q: want Action=capacity/refill, aws or none", part))
			continue
		}
		c, err1 := strconv.Atoi(strings.TrimSpace(capS))
		r, err2 := strconv.Atoi(strings.TrimSpace(refS))
		if err1 != nil || err2 != nil {
			errs = append(errs, fmt.Errorf("throttle %q: capacity and refill must be whole numbers", part))
			continue
		}
		m[strings.TrimSpace(action)] = Bucket{Capacity: c, Refill: r}
	}
	t := ThrottleCustom(m)
	if err := t.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Throttle{}, errors.Join(errs...)
	}
	return t, nil
}

// Validate reports every bad bucket of a custom throttle.
func (t Throttle) Validate() error {
	var errs []error
	if t.mode > modeCustom {
		errs = append(errs, fmt.Errorf("throttle: unknown mode %d", t.mode))
	}
	for _, k := range slices.Sorted(maps.Keys(t.custom)) {
		action := strings.TrimSuffix(k, UnfilteredSuffix)
		if !validAction(action) {
			errs = append(errs, fmt.Errorf("throttle %q: not an EC2 action name", k))
		}
		errs = append(errs, t.custom[k].validate(k)...)
	}
	return errors.Join(errs...)
}

// String returns the form ParseThrottle reads.
func (t Throttle) String() string {
	switch t.mode {
	case modeNone:
		return "none"
	case modeCustom:
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(t.custom)) {
			b := t.custom[k]
			parts = append(parts, fmt.Sprintf("%s=%d/%d", k, b.Capacity, b.Refill))
		}
		return strings.Join(parts, ",")
	}
	return "aws"
}

// Buckets returns the custom buckets (nil unless custom).
func (t Throttle) Buckets() map[string]Bucket {
	if t.mode != modeCustom {
		return nil
	}
	return ThrottleCustom(t.custom).custom
}

// MarshalJSON writes "aws", "none" or {Action: {capacity, refill}}.
func (t Throttle) MarshalJSON() ([]byte, error) {
	if t.mode == modeCustom {
		return json.Marshal(t.custom)
	}
	return json.Marshal(t.String())
}

// UnmarshalJSON reads what MarshalJSON writes (and the ParseThrottle string form).
func (t *Throttle) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := ParseThrottle(s)
		if err != nil {
			return err
		}
		*t = v
		return nil
	}
	var m map[string]Bucket
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("throttle: want \"aws\", \"none\" or {Action: {capacity: N, refill: N}}: %w", err)
	}
	v := ThrottleCustom(m)
	if err := v.Validate(); err != nil {
		return err
	}
	*t = v
	return nil
}

// UnmarshalYAML reads the scenario form: aws | none | {Action: {capacity: N, refill: N}}.
func (t *Throttle) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		v, err := ParseThrottle(n.Value)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		*t = v
		return nil
	case yaml.MappingNode:
		m := map[string]Bucket{}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			b, err := decodeBucket(k.Value, v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			m[k.Value] = b
			for _, e := range b.validate(k.Value) {
				errs = append(errs, fmt.Errorf("line %d: %w", v.Line, e))
			}
			if !validAction(strings.TrimSuffix(k.Value, UnfilteredSuffix)) {
				errs = append(errs, fmt.Errorf("line %d: throttle %q: not an EC2 action name", k.Line, k.Value))
			}
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		*t = ThrottleCustom(m)
		return nil
	}
	return fmt.Errorf("line %d: throttle: want aws, none or {Action: {capacity: N, refill: N}}", n.Line)
}

func decodeBucket(action string, n *yaml.Node) (Bucket, error) {
	var b Bucket
	if n.Kind != yaml.MappingNode {
		return b, fmt.Errorf("line %d: throttle %s: want {capacity: N, refill: N}", n.Line, action)
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var dst *int
		switch k.Value {
		case "capacity":
			dst = &b.Capacity
		case "refill":
			dst = &b.Refill
		default:
			errs = append(errs, fmt.Errorf("line %d: throttle %s: unknown field %q (want capacity, refill)", k.Line, action, k.Value))
			continue
		}
		x, err := strconv.Atoi(v.Value)
		if err != nil || v.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("line %d: throttle %s: %s: want a whole number, got %q", v.Line, action, k.Value, v.Value))
			continue
		}
		*dst = x
	}
	return b, errors.Join(errs...)
}

// EC2's documented buckets (DESIGN §2 "Throttling").
var (
	nonMutatingDefault = Bucket{Capacity: 100, Refill: 20}
	unfilteredDescribe = Bucket{Capacity: 50, Refill: 10}
	mutatingDefault    = Bucket{Capacity: 50, Refill: 5}
	awsBuckets         = map[string]Bucket{
		"AssignPrivateIpAddresses":        {100, 5},
		"UnassignPrivateIpAddresses":      {100, 5},
		"CreateNetworkInterface":          {100, 5},
		"DeleteNetworkInterface":          {100, 5},
		"ModifyNetworkInterfaceAttribute": {100, 5},
		"CreateTags":                      {100, 10},
		"RunInstances":                    {5, 2},
	}
)

// splitsUnfiltered lists the actions whose unfiltered, unpaginated calls
// draw from a smaller bucket of their own.
var splitsUnfiltered = map[string]bool{
	"DescribeInstances":         true,
	"DescribeNetworkInterfaces": true,
}

// isNonMutating is EC2's own split: reads are Describe*/Get*/List*.
func isNonMutating(action string) bool {
	return strings.HasPrefix(action, "Describe") || strings.HasPrefix(action, "Get") || strings.HasPrefix(action, "List")
}

// bucketFor returns the bucket a key (action or action+UnfilteredSuffix)
// uses under t; ok is false when t does not throttle.
func (t Throttle) bucketFor(key string) (Bucket, bool) {
	if t.mode == modeNone {
		return Bucket{}, false
	}
	if t.mode == modeCustom {
		if b, ok := t.custom[key]; ok {
			return b, true
		}
		if base, cut := strings.CutSuffix(key, UnfilteredSuffix); cut {
			if b, ok := t.custom[base]; ok {
				return b, true
			}
		}
	}
	action, unfiltered := strings.CutSuffix(key, UnfilteredSuffix)
	if unfiltered {
		return unfilteredDescribe, true
	}
	if b, ok := awsBuckets[action]; ok {
		return b, true
	}
	if isNonMutating(action) {
		return nonMutatingDefault, true
	}
	return mutatingDefault, true
}

// unfilteredCall tells whether a Describe call asks for everything: no ids,
// no filters, no page size, no page token.
func unfilteredCall(p map[string][]string) bool {
	for k := range p {
		switch {
		case strings.HasPrefix(k, "Filter."),
			strings.HasPrefix(k, "NetworkInterfaceId."),
			strings.HasPrefix(k, "InstanceId."),
			k == "MaxResults", k == "NextToken":
			return false
		}
	}
	return true
}

// tokenBucket refills on a fixed schedule: Refill tokens at every whole
// second of lab time since the controller started, as EC2 documents ("a set
// number of tokens are added every second"). Lab time comes from the
// injected clock, so a scaled clock speeds refills with everything else.
type tokenBucket struct {
	b      Bucket
	tokens int
	tick   int64 // whole seconds since start at the last refill
}

func newTokenBucket(b Bucket) *tokenBucket { return &tokenBucket{b: b, tokens: b.Capacity} }

// take refills up to elapsed and takes one token, false when empty.
func (tb *tokenBucket) take(elapsed time.Duration) bool {
	tick := int64(elapsed / time.Second)
	if tick > tb.tick {
		add := (tick - tb.tick) * int64(tb.b.Refill)
		if add > int64(tb.b.Capacity-tb.tokens) {
			tb.tokens = tb.b.Capacity
		} else {
			tb.tokens += int(add)
		}
		tb.tick = tick
	}
	if tb.tokens == 0 {
		return false
	}
	tb.tokens--
	return true
}

// validAction accepts names shaped like EC2 actions (CreateTags, DescribeVpcs).
func validAction(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
