package ipamd

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/awshttp"
)

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	require.NoError(t, err)
	return a
}

func fakeecSubnet(l *testLab, id, cidr string) fakeec2.SubnetSpec {
	return fakeec2.SubnetSpec{ID: id, VPCID: l.vpc.ID, CIDR: cidr, AZ: "us-west-2a"}
}

// callCounter counts calls and error codes per action.
type callCounter struct {
	mu     sync.Mutex
	byAct  map[string]int
	byCode map[string]int
}

func (c *callCounter) Before(fakeec2.Call) fakeec2.Verdict { return fakeec2.Verdict{} }

func (c *callCounter) After(call fakeec2.Call, _ fakeec2.Verdict, out fakeec2.Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byAct == nil {
		c.byAct, c.byCode = map[string]int{}, map[string]int{}
	}
	c.byAct[call.Action]++
	if out.Code != "" {
		c.byCode[out.Code]++
	}
}

func (c *callCounter) calls(action string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byAct[action]
}

func (c *callCounter) errors(code string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byCode[code]
}

// faultWindow fails the listed actions with code during [from, to) of lab
// time, and fails the first failFirst calls of failAction with
// InternalError (after the window), counting everything like callCounter.
type faultWindow struct {
	callCounter
	mu         sync.Mutex
	actions    map[string]bool
	code       string
	status     int
	from, to   time.Time
	failAction string
	failFirst  int
	failed     int
	firstOK    time.Time // lab time of the first call of actions that succeeded
}

func (f *faultWindow) After(c fakeec2.Call, v fakeec2.Verdict, out fakeec2.Outcome) {
	f.callCounter.After(c, v, out)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.actions[c.Action] && out.Status == 200 && f.firstOK.IsZero() {
		f.firstOK = c.Time
	}
}

func (f *faultWindow) firstSuccess() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.firstOK
}

func (f *faultWindow) Before(c fakeec2.Call) fakeec2.Verdict {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.actions[c.Action] && !c.Time.Before(f.from) && c.Time.Before(f.to) {
		return fakeec2.Verdict{Err: &fakeec2.Error{Code: f.code, Message: "injected", Status: f.status}, Fault: "window"}
	}
	if c.Action == f.failAction && !c.Time.Before(f.to) && f.failed < f.failFirst {
		f.failed++
		return fakeec2.Verdict{Err: &fakeec2.Error{Code: "InternalError", Message: "An internal error has occurred", Status: 500}, Fault: "internal"}
	}
	return fakeec2.Verdict{}
}

// gate blocks, after it ran, the first successful call of action until
// released: the action has happened in EC2, but its caller has not heard.
type gate struct {
	callCounter
	mu      sync.Mutex
	action  string
	hit     chan struct{}
	release chan struct{}
	fired   bool
}

func newGate(action string) *gate {
	return &gate{action: action, hit: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) After(c fakeec2.Call, v fakeec2.Verdict, out fakeec2.Outcome) {
	g.callCounter.After(c, v, out)
	g.mu.Lock()
	fire := !g.fired && c.Action == g.action && out.Status == 200
	if fire {
		g.fired = true
	}
	g.mu.Unlock()
	if fire {
		close(g.hit)
		<-g.release
	}
}

func (g *gate) wasHit() bool {
	select {
	case <-g.hit:
		return true
	default:
		return false
	}
}

// switchable forwards to an interceptor that a test can swap.
type switchable struct {
	mu sync.Mutex
	ic fakeec2.Interceptor
}

func (s *switchable) set(ic fakeec2.Interceptor) { s.mu.Lock(); s.ic = ic; s.mu.Unlock() }

func (s *switchable) get() fakeec2.Interceptor { s.mu.Lock(); defer s.mu.Unlock(); return s.ic }

func (s *switchable) Before(c fakeec2.Call) fakeec2.Verdict {
	if ic := s.get(); ic != nil {
		return ic.Before(c)
	}
	return fakeec2.Verdict{}
}

func (s *switchable) After(c fakeec2.Call, v fakeec2.Verdict, o fakeec2.Outcome) {
	if ic := s.get(); ic != nil {
		ic.After(c, v, o)
	}
}

func newSDKClient(t *testing.T, url string) *ec2.Client {
	return ec2.New(ec2.Options{
		Region: "us-west-2", BaseEndpoint: aws.String(url), HTTPClient: awshttp.New(),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// timedCounter records when each successful call of an action happened.
type timedCounter struct {
	callCounter
	mu sync.Mutex
	at map[string][]time.Time
}

func (c *timedCounter) After(call fakeec2.Call, v fakeec2.Verdict, out fakeec2.Outcome) {
	c.callCounter.After(call, v, out)
	if out.Status != 200 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at == nil {
		c.at = map[string][]time.Time{}
	}
	c.at[call.Action] = append(c.at[call.Action], call.Time)
}

func (c *timedCounter) times(action string) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.at[action]...)
}
