package fakeec2

import (
	"net/url"
	"time"
)

// Call is one EC2 request as the interceptor sees it, before it runs.
type Call struct {
	Action string
	// Params is the decoded request (form body or query string).
	Params url.Values
	// Attempt is the SDK's attempt number from the amz-sdk-request header
	// ("attempt=2; max=3"), 0 when the client sent none.
	Attempt int
	// Time is the lab time the request arrived.
	Time time.Time
}

// Verdict is what an interceptor decided before a call runs.
type Verdict struct {
	// Err, when set, is answered instead of running the action.
	Err *Error
	// Latency is lab time to wait before running (or failing) the call.
	Latency time.Duration
	// Fault names what was injected ("throttle", a fault rule's name,
	// "replay"), empty when nothing was.
	Fault string
	// Token is the interceptor's own: set in Before, handed back unchanged
	// in After, so it can pair the two for concurrent calls. The server
	// never reads it.
	Token uint64
}

// Outcome is how a call ended.
type Outcome struct {
	Status    int
	Code      string // EC2 error code, empty on success
	RequestID string
	// Latency is the lab time from arrival to answer.
	Latency time.Duration
}

// Interceptor sits in front of every EC2 action: throttling, fault
// injection, latency and tracing live behind it (package fakeec2/chaos), so
// the state model stays free of them. Before and After are called for every
// request, including unknown actions and malformed ones, on the request's
// goroutine; implementations must be safe for concurrent use.
type Interceptor interface {
	Before(Call) Verdict
	After(Call, Verdict, Outcome)
}
