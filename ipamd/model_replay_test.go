package ipamd

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/scenario"
)

// The replay a failing TestModelRandom writes is a scenario `enilab run`
// accepts: every operation the generator draws is written as a step the
// parser takes (or a comment), for a run long enough to draw each kind.
func TestModelReplayIsAScenario(t *testing.T) {
	m := newModel(t, 11)
	m.run(200)
	src := m.replay()
	sc, err := scenario.Parse("replay.yaml", []byte(src))
	require.NoError(t, err, "%s", src)
	require.NotEmpty(t, sc.Steps)
}
