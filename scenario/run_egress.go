package scenario

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/enilab/enilab/internal/clock"
)

// curl runs a curl step: one connection, or, with within, retries a second
// apart (lab time) until the outcome is the expected one. A timeout is the
// lab's ErrNoAnswer; any other error (no such pod) fails the step.
func (r *runner) curl(ctx context.Context, c *CurlStep) (string, error) {
	start := r.at()
	for attempt := 1; ; attempt++ {
		seen, err := r.lab.Curl(ctx, c.From, c.To)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if err != nil && !errors.Is(err, ErrNoAnswer) {
			return "", fmt.Errorf("curl %s → %s: %w", c.From, c.To, err)
		}
		switch {
		case err == nil && c.ExpectOK && c.To != Internet:
			return "connected to " + c.To, nil
		case err == nil && c.ExpectOK:
			return "connected; the internet host saw " + seen, nil
		case err != nil && !c.ExpectOK:
			return fmt.Sprintf("timed out, as expected (%v)", err), nil
		}
		if r.at()-start >= c.Within {
			got := "connected (the internet host saw " + seen + ")"
			want := "a timeout"
			if err != nil {
				got, want = fmt.Sprintf("timed out: %v", err), "a connection"
			}
			return "", fmt.Errorf("curl %s → %s: want %s, got %s (%d attempts)", c.From, c.To, want, got, attempt)
		}
		if err := clock.Sleep(ctx, r.clk, time.Second); err != nil {
			return "", err
		}
	}
}
