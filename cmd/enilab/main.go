// Command enilab runs scenario files against a hermetic VPC CNI lab; see
// docs/SCENARIOS.md. Everything lives in package app.
package main

import (
	"os"
	"path/filepath"

	"github.com/enilab/enilab/cmd/enilab/app"
	"github.com/enilab/enilab/cniplugin"
)

func main() {
	// A lab runs the CNI plugin by re-executing this binary as aws-cni.
	if filepath.Base(os.Args[0]) == "aws-cni" {
		cniplugin.Main()
		return
	}
	ctx, stop := app.SignalContext(os.Stderr)
	err := app.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(app.Exit(err, os.Stderr))
}
