package fakeec2

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/enilab/enilab/internal/clock"
)

// Config configures a Server. The zero value is usable: every field has a
// default (see the field comments).
type Config struct {
	Region    string      // default "us-west-2"
	AccountID string      // default "123456789012"
	Seed      int64       // deterministic address/ID/MAC choice
	Clock     clock.Clock // default clock.Real{}
	// TokenClock times IMDSv2 token TTLs; default clock.Real{}. Not the lab
	// clock: the SDK that holds a token counts its TTL on the wall clock and
	// keeps sending it until then, so a token must not expire sooner here.
	TokenClock  clock.Clock
	Interceptor Interceptor // nil = none (chaos layer plugs in here)
	// IMDSLag delays when an attach or assign shows in IMDS.
	IMDSLag time.Duration
	// DescribeLag delays the same for DescribeNetworkInterfaces and
	// DescribeInstances.
	DescribeLag time.Duration
	// InstancePending is how long an instance RunInstances launches stays
	// pending on the lab clock before it is running; InstanceShutdown how
	// long a terminated one stays shutting-down. Default 500ms each;
	// negative = none. (The Go API's RunInstance starts running: a lab
	// node boots once its instance runs.)
	InstancePending, InstanceShutdown time.Duration
	MaxBodyBytes                      int64 // default 1 MiB
}

// defaultTransition is how long pending and shutting-down last by default:
// long enough to be seen, short enough for no client to wait on it.
const defaultTransition = 500 * time.Millisecond

// Validate reports every problem with the config at once.
func (c Config) Validate() error {
	var errs []error
	if c.IMDSLag < 0 {
		errs = append(errs, fmt.Errorf("IMDSLag %v is negative", c.IMDSLag))
	}
	if c.DescribeLag < 0 {
		errs = append(errs, fmt.Errorf("DescribeLag %v is negative", c.DescribeLag))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes %d is negative", c.MaxBodyBytes))
	}
	if c.AccountID != "" && (len(c.AccountID) != 12 || strings.Trim(c.AccountID, "0123456789") != "") {
		errs = append(errs, fmt.Errorf("AccountID %q is not 12 digits", c.AccountID))
	}
	if strings.ContainsAny(c.Region, " /\t\n") {
		errs = append(errs, fmt.Errorf("Region %q is not a region name", c.Region))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = "us-west-2"
	}
	if c.AccountID == "" {
		c.AccountID = "123456789012"
	}
	if c.TokenClock == nil {
		c.TokenClock = clock.Real{}
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.InstancePending == 0 {
		c.InstancePending = defaultTransition
	}
	if c.InstanceShutdown == 0 {
		c.InstanceShutdown = defaultTransition
	}
	return c
}

// Server is an in-process EC2 (Query API) and per-instance IMDSv2 that
// enforces EC2's ENI and address rules. It is safe for concurrent use.
type Server struct {
	cfg Config

	mu       sync.Mutex // guards st, watchers, closed
	st       *state
	watchers map[*watcher]struct{}
	closed   bool
	wg       sync.WaitGroup

	ridMu sync.Mutex
	rid   *rand.Rand

	tokenKey []byte // signs IMDSv2 tokens (imds_token.go)
}

// New returns a Server with an empty account: create VPCs, subnets and
// instances through the Go API or the wire.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fakeec2: invalid config: %w", err)
	}
	cfg = cfg.withDefaults()
	return &Server{
		cfg:      cfg,
		st:       newState(cfg.Region, cfg.AccountID, cfg.Seed),
		watchers: map[*watcher]struct{}{},
		rid:      rand.New(rand.NewPCG(uint64(cfg.Seed), 0x726571)),
		tokenKey: tokenKey(cfg.Seed),
	}, nil
}

// Close stops every watcher and waits for their goroutines; it is
// idempotent. The server keeps answering requests after Close.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	ws := make([]*watcher, 0, len(s.watchers))
	for w := range s.watchers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	s.wg.Wait()
	return nil
}
