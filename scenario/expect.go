package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Mismatch is one expect key that does not hold.
type Mismatch struct {
	// Key is the expect key: enis, subnetFree[subnet-a], ec2Errors[Code]…
	Key string
	// Want is the expected value; AtLeast marks ec2Errors keys.
	Want    int
	AtLeast bool
	Got     int
	// Missing is set when the node or subnet is not in the lab at all.
	Missing bool
	// WantText and GotText replace Want and Got for keys whose values are
	// not counts (egressSource).
	WantText, GotText string
	// Text, when set, replaces the want/got figures (a pod's state).
	Text string
}

func (m Mismatch) String() string {
	if m.Text != "" {
		return m.Key + ": " + m.Text
	}
	if m.WantText != "" {
		return fmt.Sprintf("%s: want %s, got %s", m.Key, m.WantText, m.GotText)
	}
	want := fmt.Sprintf("%d", m.Want)
	if m.AtLeast {
		want = "at least " + want
	}
	if m.Missing {
		return fmt.Sprintf("%s: want %s, not found in the lab", m.Key, want)
	}
	return fmt.Sprintf("%s: want %s, got %d", m.Key, want, m.Got)
}

// Check compares the expectation with a snapshot and returns every key that
// does not hold (nil when all do).
func (e *Expect) Check(s Snapshot) []Mismatch {
	var out []Mismatch
	if len(e.Figures) > 0 {
		n, ok := s.Node(e.Node)
		for _, k := range NodeKeys {
			want, set := e.Figures[k]
			if !set {
				continue
			}
			got := n.Figure(k)
			if !ok || got != want {
				out = append(out, Mismatch{Key: k, Want: want, Got: got, Missing: !ok})
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(e.SubnetFree)) {
		want := e.SubnetFree[id]
		sub, ok := s.Subnet(id)
		if !ok || sub.Free != want {
			out = append(out, Mismatch{Key: "subnetFree[" + id + "]", Want: want, Got: sub.Free, Missing: !ok})
		}
	}
	for _, code := range slices.Sorted(maps.Keys(e.EC2Errors)) {
		want := e.EC2Errors[code]
		if got := s.EC2.Errors[code]; got < want {
			out = append(out, Mismatch{Key: "ec2Errors[" + code + "]", Want: want, AtLeast: true, Got: got})
		}
	}
	if e.EgressSource != nil {
		out = append(out, e.EgressSource.check(s)...)
	}
	if e.Pod != nil {
		out = append(out, e.Pod.check(s)...)
	}
	return out
}

// ExpectFailure is the error of an expect that did not hold within its time.
type ExpectFailure struct {
	Step       Step
	Mismatches []Mismatch
}

func (f *ExpectFailure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "steps[%d] expect (line %d)", f.Step.Index, f.Step.Line)
	if f.Step.Expect.Node != "" {
		fmt.Fprintf(&b, " on %s", f.Step.Expect.Node)
	}
	fmt.Fprintf(&b, " did not hold within %s: ", fmtDur(f.Step.Expect.Within))
	parts := make([]string, len(f.Mismatches))
	for i, m := range f.Mismatches {
		parts[i] = m.String()
	}
	b.WriteString(strings.Join(parts, "; "))
	return b.String()
}
