// Command fakeec2 serves enilab's fake EC2 Query API (with per-instance IMDS
// and the chaos admin API) on a local port, for the AWS CLI, SDKs and
// anything else that takes an endpoint URL.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/enilab/enilab/cmd/fakeec2/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fakeec2:", err)
		os.Exit(1)
	}
}
