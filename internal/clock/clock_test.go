package clock

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFakeTimersFireInDeadlineOrder(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	late := f.NewTimer(3 * time.Second)
	early := f.NewTimer(time.Second)
	f.Advance(2 * time.Second)
	select {
	case at := <-early.C():
		assert.Equal(t, time.Unix(1, 0), at)
	default:
		t.Fatal("timer due at 1s did not fire by 2s")
	}
	select {
	case <-late.C():
		t.Fatal("timer due at 3s fired at 2s")
	default:
	}
	assert.True(t, late.Stop(), "stopping a pending timer reports it was active")
	f.Advance(5 * time.Second)
	select {
	case <-late.C():
		t.Fatal("stopped timer fired")
	default:
	}
}

func TestFakeTickerRearms(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	tk := f.NewTicker(time.Second)
	defer tk.Stop()
	got := 0
	for i := 0; i < 3; i++ {
		f.Advance(time.Second)
		select {
		case <-tk.C():
			got++
		default:
		}
	}
	assert.Equal(t, 3, got)
}

func TestSleepInterruptedByContext(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Sleep(ctx, f, time.Hour) }()
	f.BlockUntil(1)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

func TestScaledRunsLabTimeFaster(t *testing.T) {
	s := NewScaled(0.001, time.Unix(1000, 0))
	assert.Equal(t, 5*time.Millisecond, s.Real(5*time.Second))
	start := time.Now()
	require.NoError(t, Sleep(context.Background(), s, 10*time.Second))
	assert.Less(t, time.Since(start), 5*time.Second, "10 s of lab time at scale 0.001 is 10 ms real")
	assert.GreaterOrEqual(t, s.Now().Sub(time.Unix(1000, 0)), 10*time.Second)
}
