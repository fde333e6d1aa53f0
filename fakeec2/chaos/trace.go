package chaos

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Record is one line of the trace: one request from arrival to answer.
type Record struct {
	// Seq numbers requests in order of arrival across all actions.
	Seq int
	// Time is the lab time the request arrived; At is that time measured
	// from the controller's start.
	Time time.Time
	At   time.Duration
	// Action and Call (numbered from 1 per action, in arrival order) are
	// what replay matches on. Action is empty for a request that named no
	// well-formed action (the server refused it).
	Action string
	Call   int
	// Attempt is the SDK's attempt number (amz-sdk-request), 0 if not sent.
	Attempt int
	// Params holds the key parameters only: ids, counts, addresses,
	// filters, page size and token.
	Params map[string]string
	// Status and Code are the answer (Code empty on success).
	Status int
	Code   string
	// Fault names what injected the error: FaultThrottle for an empty
	// bucket, else the fault rule's name; empty when nothing was injected.
	// Message is the injected error's message.
	Fault   string
	Message string
	// Replayed marks a fault re-injected from a replayed trace.
	Replayed bool
	// Delay is the injected latency; Latency the whole time to answer.
	Delay   time.Duration
	Latency time.Duration
	// RequestID is the x-amzn-requestid of the answer.
	RequestID string
}

type recordJSON struct {
	Seq       int               `json:"seq"`
	Time      string            `json:"time"`
	At        string            `json:"at"`
	Action    string            `json:"action"`
	Call      int               `json:"call"`
	Attempt   int               `json:"attempt,omitempty"`
	Params    map[string]string `json:"params,omitempty"`
	Status    int               `json:"status"`
	Code      string            `json:"code,omitempty"`
	Fault     string            `json:"fault,omitempty"`
	Message   string            `json:"message,omitempty"`
	Replayed  bool              `json:"replayed,omitempty"`
	Delay     string            `json:"delay,omitempty"`
	Latency   string            `json:"latency"`
	RequestID string            `json:"requestId,omitempty"`
}

// MarshalJSON writes one trace line (without the newline).
func (r Record) MarshalJSON() ([]byte, error) {
	b := r.appendJSON(nil)
	return b[:len(b)-1], nil
}

// UnmarshalJSON reads one trace line.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j recordJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	rec, errs := j.record()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*r = rec
	return nil
}

// appendJSON is the hot-path encoder (encoding/json's reflection costs more
// than the rest of a request's chaos work): fields in a fixed order, map
// keys sorted, a newline at the end.
func (r Record) appendJSON(b []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, int64(r.Seq), 10)
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","at":"`...)
	b = append(b, r.At.String()...)
	b = append(b, `","action":`...)
	b = appendString(b, r.Action)
	b = append(b, `,"call":`...)
	b = strconv.AppendInt(b, int64(r.Call), 10)
	if r.Attempt != 0 {
		b = append(b, `,"attempt":`...)
		b = strconv.AppendInt(b, int64(r.Attempt), 10)
	}
	if len(r.Params) > 0 {
		b = append(b, `,"params":{`...)
		for i, k := range slices.Sorted(maps.Keys(r.Params)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, r.Params[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	for _, f := range [...]struct{ k, v string }{{"code", r.Code}, {"fault", r.Fault}, {"message", r.Message}} {
		if f.v != "" {
			b = append(b, `,"`...)
			b = append(b, f.k...)
			b = append(b, `":`...)
			b = appendString(b, f.v)
		}
	}
	if r.Replayed {
		b = append(b, `,"replayed":true`...)
	}
	if r.Delay != 0 {
		b = append(b, `,"delay":"`...)
		b = append(b, r.Delay.String()...)
		b = append(b, '"')
	}
	b = append(b, `,"latency":"`...)
	b = append(b, r.Latency.String()...)
	b = append(b, '"')
	if r.RequestID != "" {
		b = append(b, `,"requestId":`...)
		b = appendString(b, r.RequestID)
	}
	return append(b, "}\n"...)
}

func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func (j recordJSON) record() (Record, []error) {
	r := Record{Seq: j.Seq, Action: j.Action, Call: j.Call, Attempt: j.Attempt, Params: j.Params,
		Status: j.Status, Code: j.Code, Fault: j.Fault, Message: j.Message, Replayed: j.Replayed, RequestID: j.RequestID}
	var errs []error
	if j.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, j.Time)
		if err != nil {
			errs = append(errs, fmt.Errorf("field \"time\": want an RFC 3339 time, got %q", j.Time))
		}
		r.Time = t
	}
	for _, d := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{{"at", j.At, &r.At}, {"delay", j.Delay, &r.Delay}, {"latency", j.Latency, &r.Latency}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil || v < 0 {
			errs = append(errs, fmt.Errorf("field %q: want a non-negative duration like \"1.5s\", got %q", d.name, d.s))
		}
		*d.dst = v
	}
	return r, errs
}

// check reports what would make a record unusable for replay.
func (r Record) check() []error {
	var errs []error
	if r.Action != "" && !validAction(r.Action) {
		errs = append(errs, fmt.Errorf("field \"action\": %q is not an EC2 action name", r.Action))
	}
	if r.Call < 1 {
		errs = append(errs, fmt.Errorf("field \"call\": must be at least 1, got %d", r.Call))
	}
	if r.Status != 0 && (r.Status < 100 || r.Status > 599) {
		errs = append(errs, fmt.Errorf("field \"status\": %d is not an HTTP status", r.Status))
	}
	if r.Fault != "" {
		if r.Code == "" {
			errs = append(errs, errors.New("field \"code\": required when \"fault\" is set"))
		} else if _, err := ErrorFor(r.Code, ""); err != nil {
			errs = append(errs, fmt.Errorf("field \"code\": %q is not an EC2 error code", r.Code))
		}
	}
	return errs
}

func validateRecords(recs []Record, where func(i int) string) error {
	var errs []error
	seen := map[string]int{}
	for i, r := range recs {
		for _, e := range r.check() {
			errs = append(errs, fmt.Errorf("%s: %w", where(i), e))
		}
		k := r.Action + "\x00" + strconv.Itoa(r.Call)
		if j, dup := seen[k]; dup && r.Call >= 1 {
			errs = append(errs, fmt.Errorf("%s: call %d of %s already recorded at %s", where(i), r.Call, r.Action, where(j)))
		}
		seen[k] = i
	}
	return errors.Join(errs...)
}

// LoadTraceFile is LoadTrace on a file; errors start with its path.
func LoadTraceFile(path string) ([]Record, error) { return loadFile(path, LoadTrace) }

// LoadTrace reads a JSON Lines trace as written by a Controller. Blank
// lines are skipped; every problem is reported with its line and field.
func LoadTrace(r io.Reader) ([]Record, error) {
	br := bufio.NewReader(r)
	var recs []Record
	var lines []int
	var errs []error
	for line := 1; ; line++ {
		text, err := br.ReadString('\n')
		if s := strings.TrimSpace(text); s != "" {
			var j recordJSON
			dec := json.NewDecoder(strings.NewReader(s))
			dec.DisallowUnknownFields()
			if derr := dec.Decode(&j); derr != nil {
				errs = append(errs, fmt.Errorf("line %d: %s", line, jsonProblem(derr)))
			} else if dec.More() {
				errs = append(errs, fmt.Errorf("line %d: more than one JSON value", line))
			} else {
				rec, rerrs := j.record()
				rerrs = append(rerrs, rec.check()...)
				for _, e := range rerrs {
					errs = append(errs, fmt.Errorf("line %d: %w", line, e))
				}
				if len(rerrs) == 0 {
					recs = append(recs, rec)
					lines = append(lines, line)
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read trace: %w", err)
		}
		if len(errs) >= 50 {
			errs = append(errs, errors.New("too many errors; stopped"))
			break
		}
	}
	if err := validateRecords(recs, func(i int) string { return fmt.Sprintf("line %d", lines[i]) }); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return recs, nil
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: want a %s, got a JSON %s", te.Field, te.Type, te.Value)
	}
	if s := err.Error(); strings.HasPrefix(s, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(s, "json: unknown field ")
	}
	return "not a JSON object: " + err.Error()
}

// keyParams keeps what identifies a request (ids, counts, addresses,
// filters, paging) and drops the rest of the form.
func keyParams(p map[string][]string) map[string]string {
	var out map[string]string
	put := func(k, v string) {
		if out == nil {
			out = make(map[string]string, 4)
		}
		if old, ok := out[k]; ok {
			v = old + "," + v
		}
		out[k] = v
	}
	var lists []string
	for k, vs := range p {
		if len(vs) == 0 || k == "Action" || k == "Version" {
			continue
		}
		v := vs[0]
		base, _, isList := strings.Cut(k, ".")
		switch {
		case isList && (strings.HasSuffix(base, "Id") || base == "PrivateIpAddress" || base == "Ipv4Prefix" ||
			base == "Filter" || base == "ResourceId" || base == "SecurityGroupId"):
			lists = append(lists, k)
		case isList && strings.HasSuffix(k, "Id"):
			put(k, v) // Attachment.AttachmentId
		case isList:
			// other structured input (tags, specifications): not key
		case strings.HasSuffix(k, "Id"), strings.HasSuffix(k, "Count"), k == "MaxResults", k == "DeviceIndex",
			k == "NetworkCardIndex", k == "InstanceType", k == "CidrBlock":
			put(k, v)
		case k == "NextToken":
			if len(v) > 32 {
				v = v[:32] + "…"
			}
			put(k, v)
		}
	}
	if len(lists) == 0 {
		return out
	}
	sort.Slice(lists, func(i, j int) bool { return listLess(lists[i], lists[j]) })
	for _, k := range lists {
		v := p[k][0]
		base, rest, _ := strings.Cut(k, ".")
		if base != "Filter" {
			put(base, v)
			continue
		}
		// Filter.N.Name / Filter.N.Value.M → Filter.N = name=v1|v2
		n, field, _ := strings.Cut(rest, ".")
		fk := "Filter." + n
		switch {
		case field == "Name":
			if out == nil {
				out = map[string]string{}
			}
			out[fk] = v + "=" + out[fk]
		case strings.HasPrefix(field, "Value"):
			if out == nil {
				out = map[string]string{}
			}
			if old := out[fk]; old != "" && !strings.HasSuffix(old, "=") {
				out[fk] = old + "|" + v
			} else {
				out[fk] = old + v
			}
		}
	}
	return out
}

// listLess orders Key.2 before Key.10, and Filter.1.Name before its values.
func listLess(a, b string) bool {
	ap, bp := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(ap) && i < len(bp); i++ {
		if ap[i] == bp[i] {
			continue
		}
		an, aerr := strconv.Atoi(ap[i])
		bn, berr := strconv.Atoi(bp[i])
		if aerr == nil && berr == nil {
			return an < bn
		}
		if ap[i] == "Name" {
			return true
		}
		if bp[i] == "Name" {
			return false
		}
		return ap[i] < bp[i]
	}
	return len(ap) < len(bp)
}
