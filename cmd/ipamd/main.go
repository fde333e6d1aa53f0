// Command ipamd is the VPC CNI's IPAM daemon (aws-node) for enilab: it
// reads the upstream environment variables and serves the CNI plugin on a
// unix socket until SIGTERM.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/enilab/enilab/cmd/ipamd/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := app.Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ipamd:", err)
		os.Exit(1)
	}
}
