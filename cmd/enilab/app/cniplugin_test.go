package app

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/enilab/enilab/scenario"
)

// TestRunCNIPluginFlag: --cni-plugin picks every node's plugin over the
// file's cni: section, and a bad choice is a usage error before any lab.
func TestRunCNIPluginFlag(t *testing.T) {
	_, errOut, code := run(noLab, "run", builtins(t)[0], "--cni-plugin", "upstrem")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, `--cni-plugin: unknown plugin "upstrem"`)
	assert.Contains(t, errOut, `did you mean "upstream"?`)

	var got string
	spy := CLI{NewLab: func(_ context.Context, sc *scenario.Scenario, _ scenario.LabOptions) (scenario.Lab, error) {
		got = sc.CNI.Plugin
		return nil, errors.New("no lab in unit tests")
	}}
	run(spy, "run", builtins(t)[0], "--cni-plugin", "upstream")
	assert.Equal(t, scenario.CNIPluginUpstream, got)
}
