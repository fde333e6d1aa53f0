package e2e

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"

	"github.com/enilab/enilab/cniplugin"
	"github.com/enilab/enilab/scenario"
)

// racePlugin is make build's bin/aws-cni when this test binary is
// race-built, else "" (the lab re-executes this binary as its plugin). A
// race-built test binary takes 0.2–0.5 s to start on a loaded 2-core
// machine (bin/aws-cni: 0.03–0.09 s), so pods miss lab-time windows at
// timeScale 0.02. The labs, ipamd and the scenario runner run in this
// process and stay under the race detector; the plugin is the same code,
// built plain.
func racePlugin() string {
	if !raceBuild {
		return ""
	}
	p, err := filepath.Abs(filepath.Join("..", "bin", cniplugin.ExecName))
	if err != nil {
		return ""
	}
	if _, err := os.Stat(p); err != nil {
		GinkgoWriter.Printf("race-built: %s is missing (make build), so the lab re-executes this binary as its plugin\n", p)
		return ""
	}
	return p
}

// useRacePlugin runs a scenario that uses enilab's own plugin with
// racePlugin's, when there is one.
func useRacePlugin(sc *scenario.Scenario) {
	GinkgoHelper()
	p := racePlugin()
	if p == "" || !sc.OwnPlugin() {
		return
	}
	if err := sc.UseCNIPlugin(p); err != nil {
		Fail(err.Error())
	}
}
