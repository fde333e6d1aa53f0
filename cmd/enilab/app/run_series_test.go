package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/scenario"
)

// --csv and --html are written from the report like --report, also when the
// lab did not start (then with headers only and no plots).
func TestCSVAndHTMLWrittenOnLabFailure(t *testing.T) {
	dir := t.TempDir()
	csvDir, page := filepath.Join(dir, "series"), filepath.Join(dir, "r.html")
	c := CLI{NewLab: func(context.Context, *scenario.Scenario, scenario.LabOptions) (scenario.Lab, error) {
		return nil, errors.New("kernel says no")
	}}
	out, _, code := run(c, "run", builtins(t)[0], "--csv", csvDir, "--html", page, "--color", "never")
	assert.Equal(t, ExitLab, code)
	for _, name := range scenario.CSVFiles {
		assert.FileExists(t, filepath.Join(csvDir, name))
	}
	data, err := os.ReadFile(page)
	require.NoError(t, err)
	assert.Contains(t, string(data), `id="verdict">FAILED`)
	assert.Contains(t, out, "time series written to "+csvDir)
	assert.Contains(t, out, "HTML report written to "+page)
}

// A bad --html or --csv path is refused before the lab is built.
func TestBadSeriesPathsRefusedFirst(t *testing.T) {
	built := false
	c := CLI{NewLab: func(context.Context, *scenario.Scenario, scenario.LabOptions) (scenario.Lab, error) {
		built = true
		return nil, errors.New("not here")
	}}
	_, errOut, code := run(c, "run", builtins(t)[0], "--html", "/nonexistent/dir/r.html")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "--html: /nonexistent/dir is not a directory")

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, errOut, code = run(c, "run", builtins(t)[0], "--csv", filepath.Join(file, "csv"))
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "--csv:")
	assert.False(t, built, "no lab is built")
}
