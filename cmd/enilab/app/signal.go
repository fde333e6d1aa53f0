package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

// SignalContext returns a context cancelled by the first Ctrl-C (SIGINT) or
// SIGTERM, so a run tears its lab down and says so. A second one exits at
// once (the lab's leftovers then need `enilab sweep`). SIGPIPE is caught and
// dropped: without that, a broken stdout (`enilab run … | head`) would kill
// the process mid-run and leave the lab behind; the run notices the failed
// write itself (see brokenPipe) and tears down. The returned stop undoes
// all of it and returns once the signal goroutine has ended.
func SignalContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		interrupts := 0
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				if s == syscall.SIGPIPE || (s == os.Interrupt && childOwnsInterrupt.Load()) {
					continue
				}
				interrupts++
				if interrupts == 1 {
					cancel()
					continue
				}
				fmt.Fprintln(stderr, "enilab: second interrupt: exiting without finishing the teardown (clean up with `enilab sweep PREFIX`)")
				os.Exit(ExitInterrupted)
			}
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			<-exited
			cancel()
		})
	}
}

// childOwnsInterrupt is set while `enilab exec` waits for a command that
// shares the terminal: Ctrl-C is that command's to handle.
var childOwnsInterrupt atomic.Bool

// brokenPipe passes writes through and cancels the run once the reader of
// stdout has gone away.
type brokenPipe struct {
	w      io.Writer
	cancel context.CancelFunc
}

func (b brokenPipe) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		b.cancel()
	}
	return n, err
}
