// Command vmtest runs enilab's privileged test suites as root inside a
// throw-away VM: a stock Debian cloud kernel (which has dummy and veth links,
// unlike many CI kernels) booted by qemu from an initramfs holding busybox,
// the kernel modules the suites need, and statically linked test binaries.
// The VM has no network device, so the host's network configuration is never
// touched. It is what `make vm-test` runs (through scripts/vmtest/run.sh).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var ee *ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.Code)
	default:
		fmt.Fprintln(os.Stderr, "vm-test:", err)
		os.Exit(2)
	}
}
