package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/scenario/nodelab"
)

func TestCompareUsage(t *testing.T) {
	_, errOut, code := run(noLab, "compare")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "name at least one scenario file")

	_, errOut, code = run(noLab, "compare", builtins(t)[0])
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "gives one variant")

	_, errOut, code = run(noLab, "compare", "--jobs", "0", "a.yaml", "b.yaml")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "--jobs wants at least 1")
}

// A matrix file: validate counts its variants, run sends it to compare.
func TestMatrixFileValidateAndRun(t *testing.T) {
	file := writeScenario(t, `
name: warm
vpc: {cidr: 10.0.0.0/16, subnets: [{id: subnet-a, cidr: 10.0.1.0/24, az: us-west-2a}]}
nodes: [{name: node-1, instanceType: m5.large, subnet: subnet-a}]
matrix:
  ipamd.env.WARM_IP_TARGET: ["0", "5"]
  ipamd.env.MINIMUM_IP_TARGET: ["0", "10"]
steps:
  - {pods: {node: node-1, add: 5}}
`)
	out, _, code := run(noLab, "validate", file)
	assert.Equal(t, ExitOK, code)
	assert.Contains(t, out, "4 variants")
	_, errOut, code := run(noLab, "run", file)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "enilab compare "+file)
}

// The acceptance: tour against warm-ip-target, same seed, one
// table and one HTML page with both variants on shared axes.
func TestCompareTourAndWarmIPTarget(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("-short: two labs")
	}
	dir := t.TempDir()
	html := filepath.Join(dir, "compare.html")
	out, errOut, code := run(CLI{NewLab: nodelab.New, NeedRoot: true}, "compare", "../../../scenarios/tour.yaml", "../../../scenarios/warm-ip-target.yaml",
		"--seed", "3", "--jobs", "2", "--html", html, "--out", filepath.Join(dir, "out"))
	require.Equal(t, ExitOK, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "tour ") || strings.HasPrefix(l, "warm-ip-target ") {
			rows = append(rows, l)
		}
	}
	require.Len(t, rows, 2, out)
	for _, r := range rows {
		assert.Contains(t, r, "passed")
	}
	assert.Contains(t, out, "IPS/NODE")
	assert.NotContains(t, errOut, "different seeds", "--seed makes them alike")
	page, err := os.ReadFile(html)
	require.NoError(t, err)
	for _, kind := range []string{`data-plot="warm"`, `data-plot="held"`, `data-plot="latency"`} {
		assert.Contains(t, string(page), kind)
	}
	for _, f := range []string{"variant-01.json", "variant-02.timeline.txt"} {
		_, err := os.Stat(filepath.Join(dir, "out", f))
		assert.NoError(t, err, f)
	}
}
