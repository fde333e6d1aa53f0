// Package chaos is fakeec2's misbehaviour: EC2's token-bucket throttling,
// fault rules in the vocabulary of AWS Fault Injection Service, per-action
// latency, a JSON Lines trace of every request, and replay of a recorded
// trace. A Controller plugs into fakeec2.Config.Interceptor, so the EC2
// state model never sees any of it.
//
// Every random choice (which call a 30 % rule fails, how long a 1s-3s
// latency lasts) is a pure function of Config.Seed, the action and that
// action's call number. Calls of other actions, however they interleave,
// do not disturb it: the same seed and the same sequence of calls per
// action give the same faults and latencies, and a trace replays them
// exactly.
package chaos

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/clock"
)

// Config sets up a Controller; the zero value throttles like AWS, injects
// nothing and traces to memory only.
type Config struct {
	// Clock drives buckets and fault windows; default clock.Real{}.
	Clock clock.Clock
	// Seed is the one source of randomness (see the package doc).
	Seed int64
	// Throttle is ThrottleAWS (the zero value), ThrottleNone or ThrottleCustom.
	Throttle Throttle
	// Latency adds lab-time delay per action to calls that are not failed.
	Latency map[string]Latency
	Faults  []Rule
	// Trace receives one JSON line per request, in completion order; nil = none.
	Trace io.Writer
	// TraceLimit caps the records kept in memory for Trace(): 0 keeps all,
	// N keeps the newest N, a negative value keeps none. The Trace writer
	// always gets every record.
	TraceLimit int
	// Replay re-injects a recorded trace: a call whose action and
	// per-action number appear in it gets exactly the recorded fault and
	// latency (and no bucket or rule decision); later calls are decided
	// live.
	Replay []Record
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if err := c.Throttle.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, a := range slices.Sorted(maps.Keys(c.Latency)) {
		if !validAction(a) {
			errs = append(errs, fmt.Errorf("latency %q: not an EC2 action name", a))
		}
		if err := c.Latency[a].Validate(); err != nil {
			errs = append(errs, fmt.Errorf("latency %s: %w", a, err))
		}
	}
	names := map[string]int{}
	for i, r := range c.Faults {
		where := fmt.Sprintf("faults[%d]", i)
		if r.Name != "" {
			where += " (" + r.Name + ")"
			if j, dup := names[r.Name]; dup {
				errs = append(errs, fmt.Errorf("%s: name %q already used by faults[%d]", where, r.Name, j))
			}
			names[r.Name] = i
		}
		if err := r.Validate(); err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("%s: %w", where, e))
			}
		}
	}
	if err := validateRecords(c.Replay, func(i int) string { return fmt.Sprintf("replay[%d]", i) }); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Controller implements fakeec2.Interceptor. It starts no goroutines:
// buckets refill lazily from the clock, so there is nothing to close.
type Controller struct {
	clock    clock.Clock
	start    time.Time
	seed     uint64
	throttle Throttle
	latency  map[string]Latency
	trace    io.Writer
	limit    int

	mu       sync.Mutex
	actions  map[string]*actionState
	rules    []*ruleState
	nextRule int
	seq      int
	pending  map[uint64]pending // by Verdict.Token: calls between Before and After
	records  []Record
	head     int // oldest record when the ring (TraceLimit) is full
	counters Counters
	traceErr error
	buf      []byte // trace line being written (under mu)
}

type actionState struct {
	name       string
	key        uint64
	calls      int
	counters   ActionCounters
	bucket     *tokenBucket
	unfiltered *tokenBucket
	latency    Latency
	hasLatency bool
	// replay holds the recorded calls by number; calls up to replayed
	// take their verdict from it (none when the number is missing). A map,
	// not a slice: a trace's call numbers are input and may be huge.
	replay   map[int]*Record
	replayed int
}

// pending is what Before learnt about a call that After needs; it is found
// again by the Verdict's Token.
type pending struct {
	call      int
	at        time.Duration // since the controller's start, at Before
	seq       int
	origFault string
	replayed  bool
}

type ruleState struct {
	Rule
	err      *fakeec2.Error
	key      uint64
	ops      map[string]bool
	added    time.Duration
	matched  int
	injected int
}

// New validates cfg and returns a Controller whose lab time starts now.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	c := &Controller{
		clock:    clk,
		start:    clk.Now(),
		seed:     uint64(cfg.Seed),
		throttle: cfg.Throttle,
		latency:  map[string]Latency{},
		trace:    cfg.Trace,
		limit:    cfg.TraceLimit,
		actions:  map[string]*actionState{},
		pending:  map[uint64]pending{},
		counters: newCounters(),
	}
	maps.Copy(c.latency, cfg.Latency)
	for _, r := range cfg.Faults {
		if _, err := c.addRule(r, 0); err != nil {
			return nil, fmt.Errorf("chaos: %w", err)
		}
	}
	for i := range cfg.Replay {
		r := &cfg.Replay[i]
		st := c.action(r.Action)
		if st.replay == nil {
			st.replay = map[int]*Record{}
		}
		st.replayed = max(st.replayed, r.Call)
		if r.Fault != "" || r.Delay > 0 {
			rec := *r
			st.replay[r.Call] = &rec
		}
	}
	return c, nil
}

// action returns the state of an action, creating it on first use. A name
// that cannot be an EC2 action (the server refuses the request anyway) is
// kept as "": the trace must load again for replay, and a hostile client
// must not grow the table by a long name per request.
func (c *Controller) action(name string) *actionState {
	if len(name) > maxActionName || !validAction(name) {
		name = ""
	}
	st := c.actions[name]
	if st == nil {
		st = &actionState{name: name, key: mix(c.seed ^ hashString(name))}
		st.latency, st.hasLatency = c.latency[name]
		c.actions[name] = st
	}
	return st
}

// Before decides a call: a replayed fault, else the first fault rule that
// fires, else the action's token bucket, else its latency. Rules come
// before the bucket so that whether a rule fires depends only on the seed
// and the call's number, never on how full a bucket was; an injected fault
// takes no token.
func (c *Controller) Before(call fakeec2.Call) fakeec2.Verdict {
	// Windows and buckets are measured on the controller's own clock, not
	// on Call.Time: the server's clock may count from another epoch.
	elapsed := c.clock.Now().Sub(c.start)
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.action(call.Action)
	st.calls++
	c.seq++
	p := pending{call: st.calls, seq: c.seq, at: elapsed}
	v := fakeec2.Verdict{Token: uint64(c.seq)}
	if st.calls <= st.replayed {
		p.replayed = true
		if rec := st.replay[st.calls]; rec != nil {
			if rec.Fault != "" {
				e, err := ErrorFor(rec.Code, rec.Message)
				if err != nil { // validated at load; keep the call failing the same way
					e = &fakeec2.Error{Code: rec.Code, Message: rec.Message}
				}
				if rec.Status != 0 {
					e.Status = rec.Status
				}
				v.Err, v.Fault, p.origFault = e, FaultReplay, rec.Fault
			}
			v.Latency = rec.Delay
		}
		c.pending[v.Token] = p
		return v
	}
	for _, r := range c.rules {
		if !r.selects(st.name, elapsed) {
			continue
		}
		r.matched++
		if r.matched <= r.After || (r.Count > 0 && r.matched > r.After+r.Count) {
			continue
		}
		if pct := r.Percentage; pct != 0 && pct < 100 && draw(st.key, r.key, st.calls)%100 >= uint64(pct) {
			continue
		}
		if v.Err == nil {
			r.injected++
			e := *r.err
			v.Err, v.Fault, p.origFault = &e, r.Name, r.Name
		}
	}
	if v.Err == nil && !c.take(st, call, elapsed) {
		v.Err, v.Fault, p.origFault = throttleError(), FaultThrottle, FaultThrottle
	}
	if v.Err == nil && st.hasLatency {
		v.Latency = st.latency.Min
		if span := st.latency.Max - st.latency.Min; span > 0 {
			v.Latency += time.Duration(draw(st.key, latencyKey, st.calls) % uint64(span+1))
		}
	}
	c.pending[v.Token] = p
	return v
}

func throttleError() *fakeec2.Error {
	return &fakeec2.Error{Code: "RequestLimitExceeded", Status: 503, Message: "Request limit exceeded."}
}

// take draws a token from the call's bucket.
func (c *Controller) take(st *actionState, call fakeec2.Call, elapsed time.Duration) bool {
	if c.throttle.mode == modeNone || st.name == "" {
		return true // a request without an Action is refused by the server anyway
	}
	b := &st.bucket
	key := st.name
	if splitsUnfiltered[st.name] && unfilteredCall(call.Params) {
		b, key = &st.unfiltered, st.name+UnfilteredSuffix
	}
	if *b == nil {
		spec, ok := c.throttle.bucketFor(key)
		if !ok {
			return true
		}
		*b = newTokenBucket(spec)
	}
	return (*b).take(elapsed)
}

func (r *ruleState) selects(action string, elapsed time.Duration) bool {
	return (r.ops == nil || r.ops[action]) && r.windowOpen(elapsed)
}

// windowOpen reports whether elapsed lies in the rule's time window, which
// opens at the later of Start and the moment the rule was added.
func (r *ruleState) windowOpen(elapsed time.Duration) bool {
	open := max(r.added, r.Start)
	return elapsed >= open && (r.Duration == 0 || elapsed < open+r.Duration)
}

func (r *ruleState) spent() bool {
	return r.Count > 0 && r.matched >= r.After+r.Count
}

// After counts the call and traces it.
func (c *Controller) After(call fakeec2.Call, v fakeec2.Verdict, out fakeec2.Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.action(call.Action)
	p, ok := c.pending[v.Token]
	delete(c.pending, v.Token)
	if !ok { // After without Before: still count and trace it
		st.calls++
		c.seq++
		p = pending{seq: c.seq, call: st.calls, at: c.clock.Now().Sub(c.start)}
	}
	at := call.Time // the server's lab time of arrival
	if at.IsZero() {
		at = c.start.Add(p.at)
	}
	rec := Record{
		Seq: p.seq, Time: at, At: p.at, Action: st.name, Call: p.call,
		Attempt: call.Attempt, Params: keyParams(call.Params), Status: out.Status, Code: out.Code,
		Fault: p.origFault, Replayed: p.replayed && v.Fault != "", Delay: v.Latency, Latency: out.Latency,
		RequestID: out.RequestID,
	}
	if v.Fault != "" && p.origFault == "" {
		rec.Fault = v.Fault
	}
	if v.Err != nil {
		rec.Message = v.Err.Message
		if rec.Code == "" { // the server did not say; keep what was injected
			rec.Code, rec.Status = v.Err.Code, v.Err.Status
		}
	}
	c.count(st, rec, v.Err != nil && p.origFault != FaultThrottle)
	c.keep(rec)
	if c.trace != nil && c.traceErr == nil {
		c.buf = rec.appendJSON(c.buf[:0])
		if _, err := c.trace.Write(c.buf); err != nil {
			c.traceErr = fmt.Errorf("chaos: write trace: %w", err)
		}
	}
}

func (c *Controller) count(st *actionState, rec Record, injected bool) {
	k := &c.counters
	k.TotalCalls++
	k.Calls[rec.Action]++
	st.counters.Calls++
	if rec.Status >= 300 || rec.Code != "" {
		k.TotalErrors++
		st.counters.Errors++
		code := rec.Code
		if code == "" {
			code = fmt.Sprintf("HTTP%d", rec.Status)
		}
		k.Errors[code]++
	}
	if rec.Code == "RequestLimitExceeded" {
		k.Throttled++
		st.counters.Throttled++
	}
	if injected {
		k.FaultsInjected++
	}
}

func (c *Controller) keep(rec Record) {
	switch {
	case c.limit < 0:
	case c.limit > 0 && len(c.records) >= c.limit:
		// a ring: head is the oldest record once full
		c.records[c.head] = rec
		c.head = (c.head + 1) % c.limit
	default:
		c.records = append(c.records, rec)
	}
}

// AddRule starts a fault rule now (its Start is still measured from the
// controller's start) and returns its name.
func (c *Controller) AddRule(r Rule) (string, error) {
	elapsed := c.clock.Now().Sub(c.start)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addRule(r, elapsed)
}

func (c *Controller) addRule(r Rule, added time.Duration) (string, error) {
	if err := r.Validate(); err != nil {
		return "", fmt.Errorf("fault rule: %w", err)
	}
	if r.Name == "" {
		for {
			c.nextRule++
			r.Name = fmt.Sprintf("rule-%d", c.nextRule)
			if c.findRule(r.Name) < 0 {
				break
			}
		}
	} else if c.findRule(r.Name) >= 0 {
		return "", fmt.Errorf("fault rule: name %q already in use", r.Name)
	}
	e, _ := ErrorFor(r.Kind, r.Message)
	rs := &ruleState{Rule: r, err: e, key: hashString("rule\x00" + r.Name), added: added}
	rs.Operations = append([]string(nil), r.Operations...)
	if len(r.Operations) > 0 {
		rs.ops = map[string]bool{}
		for _, op := range r.Operations {
			rs.ops[op] = true
		}
	}
	c.rules = append(c.rules, rs)
	return r.Name, nil
}

func (c *Controller) findRule(name string) int {
	for i, r := range c.rules {
		if r.Name == name {
			return i
		}
	}
	return -1
}

// RemoveRule stops a rule; false if there is none by that name.
func (c *Controller) RemoveRule(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.findRule(name)
	if i < 0 {
		return false
	}
	c.rules = append(c.rules[:i], c.rules[i+1:]...)
	return true
}

// Rules returns the current rules, in evaluation order.
func (c *Controller) Rules() []Rule {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Rule, len(c.rules))
	for i, r := range c.rules {
		out[i] = r.Rule
		out[i].Operations = append([]string(nil), r.Operations...)
	}
	return out
}

// RuleState is a rule with what it has done so far.
type RuleState struct {
	Rule     Rule `json:"rule"`
	Matched  int  `json:"matched"`  // calls inside its window
	Injected int  `json:"injected"` // faults it caused
	Active   bool `json:"active"`   // window open now and count not spent
}

// RuleStates reports every rule's progress (the admin API lists these).
func (c *Controller) RuleStates() []RuleState {
	elapsed := c.clock.Now().Sub(c.start)
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]RuleState, len(c.rules))
	for i, r := range c.rules {
		rule := r.Rule
		rule.Operations = append([]string(nil), r.Operations...)
		out[i] = RuleState{Rule: rule, Matched: r.matched, Injected: r.injected, Active: r.windowOpen(elapsed) && !r.spent()}
	}
	return out
}

// ActionCounters are one action's totals.
type ActionCounters struct {
	Calls     int `json:"calls"`
	Throttled int `json:"throttled"`
	Errors    int `json:"errors"`
}

// Counters are totals since the controller started. Throttled counts every
// RequestLimitExceeded answer (bucket or fault); FaultsInjected counts
// errors injected by rules or replayed from them, not bucket throttling.
type Counters struct {
	Calls          map[string]int            `json:"calls"`  // by action
	Errors         map[string]int            `json:"errors"` // by error code
	Throttled      int                       `json:"throttled"`
	FaultsInjected int                       `json:"faultsInjected"`
	TotalCalls     int                       `json:"totalCalls"`
	TotalErrors    int                       `json:"totalErrors"`
	ByAction       map[string]ActionCounters `json:"byAction"`
}

func newCounters() Counters {
	return Counters{Calls: map[string]int{}, Errors: map[string]int{}, ByAction: map[string]ActionCounters{}}
}

// Counters returns a copy of the counters.
func (c *Controller) Counters() Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counters
	out.Calls, out.Errors, out.ByAction = map[string]int{}, map[string]int{}, map[string]ActionCounters{}
	for k, v := range c.counters.Calls {
		out.Calls[k] = v
	}
	for k, v := range c.counters.Errors {
		out.Errors[k] = v
	}
	for k, st := range c.actions {
		if st.counters.Calls > 0 {
			out.ByAction[k] = st.counters
		}
	}
	return out
}

// Trace returns the records kept in memory, in completion order.
func (c *Controller) Trace() []Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Record, 0, len(c.records))
	out = append(out, c.records[c.head:]...)
	out = append(out, c.records[:c.head]...)
	for i := range out {
		out[i].Params = maps.Clone(out[i].Params)
	}
	return out
}

// TraceErr returns the first error writing the trace; tracing stops there.
func (c *Controller) TraceErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.traceErr
}

// maxActionName is longer than any EC2 action name (the longest are about
// 50 characters).
const maxActionName = 128

const latencyKey = 0x6c6174656e6379 // "latency"

// draw is the random value of one decision: splitmix64 over the action's
// stream key (seed ⊕ action), the decision's key and the call number.
func draw(actionKey, purpose uint64, call int) uint64 {
	return mix(actionKey ^ mix(purpose+uint64(call)*0x9e3779b97f4a7c15))
}

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}
