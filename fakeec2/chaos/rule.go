package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/enilab/enilab/fakeec2"
)

// Rule is a fault in the vocabulary of AWS Fault Injection Service's EC2
// API actions (aws:fis:inject-api-internal-error, -throttle-error,
// -unavailable-error), widened to any EC2 error code.
//
// A rule selects calls to its Operations (all actions when empty). Its
// window opens at the later of Start (lab time since the controller
// started) and the moment the rule was added, and closes Duration later
// (never when 0). Inside the window, matching calls are numbered from 1: the
// first After are let through, the next Count (all when 0) are candidates,
// and each candidate fails with probability Percentage/100.
type Rule struct {
	// Name identifies the rule for RemoveRule and in the trace; New and
	// AddRule assign "rule-N" when empty.
	Name string
	// Kind is internal (500 InternalError), throttle (503
	// RequestLimitExceeded), unavailable (503 Unavailable), or an EC2
	// error code (400; UnauthorizedOperation 403).
	Kind       string
	Operations []string
	// Percentage of candidate calls that fail, 1–100; 0 means 100.
	Percentage int
	After      int
	Start      time.Duration
	Duration   time.Duration
	// Count is the number of candidate calls after the first After; 0
	// means no limit.
	Count int
	// Message overrides the error message (clients parse some, e.g. the
	// quoted id of a NotFound); empty means EC2's usual text.
	Message string
}

// Reserved fault names: what the trace records for bucket throttling and
// what a Verdict says for replayed faults.
const (
	FaultThrottle = "throttle"
	FaultReplay   = "replay"
)

// Kind names of FIS faults.
const (
	KindInternal    = "internal"
	KindThrottle    = "throttle"
	KindUnavailable = "unavailable"
)

// ErrorFor returns the EC2 error a fault of this kind answers with: the
// code, its HTTP status and EC2's usual message.
func ErrorFor(kind, message string) (*fakeec2.Error, error) {
	var e fakeec2.Error
	switch kind {
	case KindInternal, "InternalError", "InternalFailure":
		e = fakeec2.Error{Code: "InternalError", Status: 500, Message: "An internal error has occurred."}
		if kind == "InternalFailure" {
			e.Code = kind
		}
	case KindThrottle, "RequestLimitExceeded":
		e = fakeec2.Error{Code: "RequestLimitExceeded", Status: 503, Message: "Request limit exceeded."}
	case KindUnavailable, "Unavailable", "ServiceUnavailable":
		e = fakeec2.Error{Code: "Unavailable", Status: 503, Message: "The service is unavailable. Please try again shortly."}
		if kind == "ServiceUnavailable" {
			e.Code = kind
		}
	case "":
		return nil, errors.New("kind: required (internal, throttle, unavailable or an EC2 error code)")
	default:
		if !validCode(kind) {
			return nil, fmt.Errorf("kind: %q is neither internal, throttle, unavailable nor an EC2 error code like InvalidParameterValue", kind)
		}
		e = fakeec2.Error{Code: kind, Status: 400, Message: "Injected fault: " + kind + "."}
		if kind == "UnauthorizedOperation" {
			e.Status = 403
			e.Message = "You are not authorized to perform this operation."
		}
	}
	if message != "" {
		e.Message = message
	}
	return &e, nil
}

// validCode accepts EC2 error code shapes: InvalidParameterValue,
// InvalidNetworkInterfaceID.NotFound, Client.UnknownError.
func validCode(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Validate reports every problem with the rule at once. An empty name is
// fine (one is assigned); so is Percentage 0 (meaning 100).
func (r Rule) Validate() error {
	var errs []error
	if r.Name != "" && !validName(r.Name) {
		errs = append(errs, fmt.Errorf("name: %q may hold only letters, digits, '.', '_' and '-'", r.Name))
	}
	if r.Name == FaultThrottle || r.Name == FaultReplay {
		errs = append(errs, fmt.Errorf("name: %q is reserved for the trace", r.Name))
	}
	if _, err := ErrorFor(r.Kind, r.Message); err != nil {
		errs = append(errs, err)
	}
	for i, op := range r.Operations {
		if !validAction(op) {
			errs = append(errs, fmt.Errorf("operations[%d]: %q is not an EC2 action name", i, op))
		}
	}
	if r.Percentage < 0 || r.Percentage > 100 {
		errs = append(errs, fmt.Errorf("percentage: must be 1–100, got %d", r.Percentage))
	}
	if r.After < 0 {
		errs = append(errs, fmt.Errorf("after: must not be negative, got %d", r.After))
	}
	if r.Count < 0 {
		errs = append(errs, fmt.Errorf("count: must not be negative, got %d", r.Count))
	}
	if r.Start < 0 {
		errs = append(errs, fmt.Errorf("start: must not be negative, got %s", r.Start))
	}
	if r.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration: must not be negative, got %s", r.Duration))
	}
	return errors.Join(errs...)
}

// ruleJSON is the wire and file form: lower-case keys, durations as
// strings ("30s").
type ruleJSON struct {
	Name       string   `json:"name,omitempty"`
	Kind       string   `json:"kind"`
	Operations []string `json:"operations,omitempty"`
	Percentage int      `json:"percentage,omitempty"`
	After      int      `json:"after,omitempty"`
	Start      string   `json:"start,omitempty"`
	Duration   string   `json:"duration,omitempty"`
	Count      int      `json:"count,omitempty"`
	Message    string   `json:"message,omitempty"`
}

// MarshalJSON writes the same form LoadFaults reads.
func (r Rule) MarshalJSON() ([]byte, error) {
	j := ruleJSON{Name: r.Name, Kind: r.Kind, Operations: r.Operations, Percentage: r.Percentage,
		After: r.After, Count: r.Count, Message: r.Message}
	if r.Start != 0 {
		j.Start = r.Start.String()
	}
	if r.Duration != 0 {
		j.Duration = r.Duration.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads one rule as LoadFaults does, with the same errors.
func (r *Rule) UnmarshalJSON(b []byte) error {
	rules, err := loadRules(b, true)
	if err != nil {
		return err
	}
	*r = rules[0]
	return nil
}

// Latency is an injected delay, uniform in [Min, Max] (fixed when equal).
type Latency struct {
	Min, Max time.Duration
}

// ParseLatency reads "3s" (fixed) or "3s-10s" (a range).
func ParseLatency(s string) (Latency, error) {
	s = strings.TrimSpace(s)
	lo, hi, isRange := strings.Cut(s, "-")
	min, err := time.ParseDuration(strings.TrimSpace(lo))
	if err != nil {
		return Latency{}, fmt.Errorf("latency %q: want a duration like 500ms or a range like 3s-10s", s)
	}
	max := min
	if isRange {
		if max, err = time.ParseDuration(strings.TrimSpace(hi)); err != nil {
			return Latency{}, fmt.Errorf("latency %q: want a duration like 500ms or a range like 3s-10s", s)
		}
	}
	l := Latency{Min: min, Max: max}
	return l, l.Validate()
}

// Validate checks 0 ≤ Min ≤ Max.
func (l Latency) Validate() error {
	if l.Min < 0 || l.Max < l.Min {
		return fmt.Errorf("latency %s: want 0 ≤ min ≤ max", l)
	}
	return nil
}

// String returns the form ParseLatency reads.
func (l Latency) String() string {
	if l.Min == l.Max {
		return l.Min.String()
	}
	return l.Min.String() + "-" + l.Max.String()
}

// MarshalJSON writes "3s-10s".
func (l Latency) MarshalJSON() ([]byte, error) { return json.Marshal(l.String()) }

// UnmarshalJSON reads "3s-10s" or "500ms".
func (l *Latency) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("latency: want a string like \"500ms\" or \"3s-10s\"")
	}
	v, err := ParseLatency(s)
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// UnmarshalText lets yaml and flag packages read "3s-10s".
func (l *Latency) UnmarshalText(b []byte) error {
	v, err := ParseLatency(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// atoiLoose reads an int given as a number or a numeric string (FIS writes
// its parameters as strings: "percentage": "50").
func atoiLoose(s string) (int, error) { return strconv.Atoi(strings.TrimSpace(s)) }
