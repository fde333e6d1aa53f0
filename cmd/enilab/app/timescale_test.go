package app

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/enilab/enilab/scenario"
)

// TestTimeScaleFlag: --time-scale runs the file's lab time at another
// scale (the timeline's header says which), and a value outside the
// file's own range is a usage error before any lab, for run and up alike.
func TestTimeScaleFlag(t *testing.T) {
	file := builtins(t)[0]
	for _, cmd := range []string{"run", "up"} {
		for _, bad := range []string{"20", "-1", "fast"} {
			_, errOut, code := run(noLab, cmd, file, "--time-scale", bad)
			assert.Equal(t, ExitUsage, code, "%s --time-scale %s", cmd, bad)
			assert.Contains(t, errOut, "time-scale", "%s --time-scale %s", cmd, bad)
		}
	}

	var got []float64
	spy := CLI{NewLab: func(_ context.Context, sc *scenario.Scenario, _ scenario.LabOptions) (scenario.Lab, error) {
		got = append(got, sc.TimeScale)
		return nil, errors.New("no lab in unit tests")
	}}
	sc, err := scenario.Load(file)
	assert.NoError(t, err)
	out, _, _ := run(spy, "run", file, "--time-scale", "0.5")
	run(spy, "run", file)
	assert.Equal(t, []float64{0.5, sc.TimeScale}, got, "--time-scale, then the file's")
	assert.Contains(t, out, "timeScale 0.5 ")
}
