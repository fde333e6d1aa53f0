package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/scenario"
)

func builtins(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../../scenarios/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// noLab is a CLI whose labs never start: enough for everything but a run.
var noLab = CLI{NewLab: func(context.Context, *scenario.Scenario, scenario.LabOptions) (scenario.Lab, error) {
	return nil, errors.New("no lab in unit tests")
}}

func run(c CLI, args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	err := c.Run(context.Background(), args, &o, &e)
	code = Exit(err, &e)
	return o.String(), e.String(), code
}

func TestValidateEveryBuiltinScenario(t *testing.T) {
	files := builtins(t)
	out, errOut, code := run(noLab, append([]string{"validate"}, files...)...)
	assert.Equal(t, ExitOK, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Equal(t, len(files), strings.Count(out, ": ok ("))
}

const invalid = `name: broken
vpc:
  cidr: 10.0.0.0/16
  subnets:
    - {id: subnet-a, cidr: 10.0.1.0/24}
    - {id: subnet-b, cidr: 10.0.1.0/33}
    - {id: subnet-c, cidr: 172.16.0.0/24}
nodes:
  - {name: node, instanceType: m5.gigantic, subnet: subnet-a}
steps:
  - {teleport: {node: node}}
`

func TestValidateListsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(invalid), 0o644))
	out, _, code := run(noLab, "validate", bad)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, out, bad+": 4 problems")
	for _, want := range []string{
		bad + `:6: vpc.subnets[1].cidr: bad CIDR "10.0.1.0/33"`,
		bad + ":7: vpc.subnets[2].cidr: subnet 172.16.0.0/24 is outside the VPC (10.0.0.0/16)",
		bad + `:9: nodes[0].instanceType: unknown instance type "m5.gigantic"`,
		bad + `:11: steps[0].teleport: unknown step kind "teleport"`,
	} {
		assert.Contains(t, out, want)
	}

	// run refuses the same file before building anything.
	_, errOut, code := run(noLab, "run", bad)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "unknown step kind")
}

func TestUsageErrors(t *testing.T) {
	_, errOut, code := run(noLab, "frobnicate")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, `unknown command "frobnicate"`)
	assert.Contains(t, errOut, "usage:")

	_, errOut, code = run(noLab, "run")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "name exactly one scenario file")

	_, errOut, code = run(noLab, "run", "x.yaml", "--colour", "never")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "flag provided but not defined: -colour")

	_, errOut, code = run(noLab, "run", "x.yaml", "--quiet", "--verbose")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "--quiet and --verbose exclude each other")

	_, errOut, code = run(noLab, "run", "/nonexistent/x.yaml")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "no such file")

	out, _, code := run(noLab)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, out, "enilab run FILE")
}

func TestVersion(t *testing.T) {
	out, _, code := run(noLab, "version")
	assert.Equal(t, ExitOK, code)
	assert.True(t, strings.HasPrefix(out, "enilab "), out)
}

func TestFlagsAfterFileAndReportOnLabFailure(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "r.json")
	trace := filepath.Join(dir, "t.jsonl")
	var got scenario.LabOptions
	c := CLI{NewLab: func(_ context.Context, _ *scenario.Scenario, o scenario.LabOptions) (scenario.Lab, error) {
		got = o
		return nil, errors.New("kernel says no")
	}}
	_, errOut, code := run(c, "run", builtins(t)[0], "--report", report, "--trace", trace, "--prefix", "enlt-cli-x", "--color", "never")
	assert.Equal(t, ExitLab, code)
	assert.Contains(t, errOut, "starting the lab: kernel says no")
	assert.Equal(t, "enlt-cli-x", got.Prefix)
	assert.NotNil(t, got.Trace, "--trace opens the file for the chaos layer")
	assert.FileExists(t, trace)

	var rep map[string]any
	data, err := os.ReadFile(report)
	require.NoError(t, err, "the report is written even when the run fails")
	require.NoError(t, json.Unmarshal(data, &rep))
	assert.Equal(t, false, rep["passed"])
}

func TestReplayFileMustExist(t *testing.T) {
	_, errOut, code := run(noLab, "run", builtins(t)[0], "--replay", "/nonexistent/trace.jsonl")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "--replay")
}

func TestTraceMustNotOverwriteReplay(t *testing.T) {
	tr := filepath.Join(t.TempDir(), "t.jsonl")
	require.NoError(t, os.WriteFile(tr, []byte("{}\n"), 0o644))
	_, errOut, code := run(noLab, "run", builtins(t)[0], "--replay", tr, "--trace", tr)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "would overwrite the --replay trace")
	data, _ := os.ReadFile(tr)
	assert.Equal(t, "{}\n", string(data), "the recorded trace is untouched")
}

func TestFirstInterruptCancelsTheRun(t *testing.T) {
	var errOut bytes.Buffer
	ctx, stop := SignalContext(&errOut)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute):
		t.Fatal("Ctrl-C did not cancel the run's context")
	}
	stop()
	stop() // idempotent
	assert.Empty(t, errOut.String(), "the first Ctrl-C exits nothing: the run tears down and reports")
}

// A setting the VPC CNI replaces (upstream's isConfigValid: prefix
// delegation on a xen type runs in secondary-IP mode) is a WARNING line,
// and validate still succeeds.
func TestValidatePrintsWarningsAndSucceeds(t *testing.T) {
	f := filepath.Join(t.TempDir(), "xen.yaml")
	require.NoError(t, os.WriteFile(f, []byte(`vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]
ipamd:
  env: {ENABLE_PREFIX_DELEGATION: "true", WARM_ENI_TARGET: two}
nodes:
  - {name: x, instanceType: c4.large, subnet: subnet-a}
`), 0o644))
	out, errOut, code := run(noLab, "validate", f)
	assert.Equal(t, ExitOK, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, ": ok (")
	assert.Contains(t, out, "WARNING: "+f+":7: nodes[0].instanceType: ENABLE_PREFIX_DELEGATION=true but c4.large is xen")
	assert.Contains(t, out, "WARNING: "+f+":5: ipamd.env.WARM_ENI_TARGET: \"two\" is not an integer; the VPC CNI ignores it and uses the default, 1")
}
