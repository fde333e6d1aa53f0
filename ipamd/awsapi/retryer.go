package awsapi

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// jitterSeed seeds the default jitter source: fixed, so runs repeat.
const jitterSeed = 0x656e696c6162

// newRetryer is upstream's retryer (retry.NewStandard with MaxAttempts 10):
// the SDK's retryable, throttle and timeout rules and its retry quota (token
// bucket), with the SDK's exponential jitter back-off, b × 2^attempt seconds
// with b uniform in [0,1), capped at retry.DefaultMaxBackoff.
func newRetryer(r Retry) *retry.Standard {
	if r.Attempts <= 0 {
		r.Attempts = MaxAttempts
	}
	if r.Rand == nil {
		var mu sync.Mutex
		src := rand.New(rand.NewPCG(jitterSeed, jitterSeed))
		r.Rand = func() float64 { mu.Lock(); defer mu.Unlock(); return src.Float64() }
	}
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = r.Attempts
		o.Backoff = jitterBackoff(r.Rand, retry.DefaultMaxBackoff)
	})
}

// jitterBackoff is the SDK's ExponentialJitterBackoff formula with an
// injectable random source.
func jitterBackoff(rnd func() float64, maxBackoff time.Duration) retry.BackoffDelayer {
	maxAttempts := math.Log2(float64(maxBackoff) / float64(time.Second))
	return retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
		if float64(attempt) > maxAttempts {
			return maxBackoff, nil
		}
		secs := rnd() * float64(int64(1)<<uint(attempt))
		return time.Duration(secs * float64(time.Second)), nil
	})
}
