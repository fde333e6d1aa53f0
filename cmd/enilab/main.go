// Command enilab runs scenario files against a hermetic VPC CNI lab; see
// the README. Everything lives in package app.
package main

import (
	"os"

	"github.com/enilab/enilab/cmd/enilab/app"
	"github.com/enilab/enilab/cniplugin/multicall"
)

func main() {
	// A lab runs the CNI plugin by re-executing this binary as aws-cni.
	multicall.RunIfPlugin()
	ctx, stop := app.SignalContext(os.Stderr)
	err := app.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(app.Exit(err, os.Stderr))
}
