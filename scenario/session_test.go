package scenario

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A live lab: the file's steps run, then steps sent one at a time run
// through the same runner, numbered on from the file's, their timeline
// going to the sender as well as the session's output; the lab stays up
// until Close.
func TestSessionRunsStepsAfterTheFile(t *testing.T) {
	lab := newFakeLab()
	sc := parseOK(t, runnable)
	var out bytes.Buffer
	s, _, err := Start(context.Background(), sc, Options{Out: &out, NewLab: lab.factory(nil), Poll: time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, s.RunSteps(context.Background()), out.String())
	assert.Contains(t, out.String(), "PASSED")
	assert.Zero(t, lab.closed, "the lab stays up after the file's steps")

	var step bytes.Buffer
	require.NoError(t, s.Step(context.Background(), "{pods: {node: node-1, add: 3}}", &step))
	assert.Contains(t, step.String(), "▶ step 14/14 pods: add 3 on node-1")
	assert.Contains(t, step.String(), "created node-1/pod-2 … pod-4")
	n, _ := s.Snapshot().Node("node-1")
	assert.Equal(t, 4, n.ReadyPods)
	assert.Contains(t, out.String(), "step 14/14", "the session's own output gets every line too")

	// The pods the live step made can be named by the next one.
	step.Reset()
	require.NoError(t, s.Step(context.Background(), "ping: {from: node-1/pod-4, to: node-2/pod-1}", &step))
	assert.Contains(t, step.String(), "✓ step 15/15")

	// A step that runs but does not hold is *Failed, naming the step.
	step.Reset()
	err = s.Step(context.Background(), "{expect: {node: node-1, readyPods: 9, within: 1s}}", &step)
	var failed *Failed
	require.ErrorAs(t, err, &failed)
	assert.Len(t, failed.Failures, 1)
	assert.Contains(t, step.String(), "✗ step 16/16 FAILED")
	assert.Len(t, s.Report().Steps, 16)

	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close does nothing")
	assert.Equal(t, 1, lab.closed)
	assert.Error(t, s.Step(context.Background(), "{sleep: 1s}", &step), "no step after Close")
}

// A bad step is refused with the scenario parser's words before the lab is
// touched.
func TestSessionRefusesBadStepsUntouched(t *testing.T) {
	lab := newFakeLab()
	sc := parseOK(t, runnable)
	s, _, err := Start(context.Background(), sc, Options{NewLab: lab.factory(nil), Poll: time.Millisecond})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.RunSteps(context.Background()))
	before := lab.Snapshot()
	for text, want := range map[string]string{
		"{pods: {node: node-3, add: 3}}":                 `unknown node "node-3"`,
		"{pods: {node: node-1, add: 3, del: 1}}":         `unknown field "del"`,
		"{teleport: {node: node-1}}":                     `unknown step kind "teleport"`,
		"{ping: {from: node-1/pod-9, to: node-2/pod-1}}": `pod "node-1/pod-9" does not exist yet`,
		"{expect: {node: node-1, enis: 9}}":              "9 can never hold on node-1",
		"{pods: {node: node-1":                           "not valid YAML",
		"  ":                                             "empty step",
		"{pods: {node: node-1, add: 1}, sleep: 1s}":      "a step has exactly one kind",
	} {
		err := s.Step(context.Background(), text, &bytes.Buffer{})
		var probs Problems
		require.True(t, errors.As(err, &probs), "%s: %v", text, err)
		assert.Contains(t, err.Error(), want, text)
	}
	assert.Equal(t, before, lab.Snapshot(), "the lab is untouched")
	assert.Len(t, s.Report().Steps, len(sc.Steps))

	// A refused step does not use up its number.
	var step bytes.Buffer
	require.NoError(t, s.Step(context.Background(), "{sleep: 1s}", &step))
	assert.Contains(t, step.String(), "step 14/14")
}

// ParseStep checks a step against the file: nodes, and pods alive after
// the file's steps (the runnable file deletes none).
func TestParseStepKnowsTheFilesPods(t *testing.T) {
	sc := parseOK(t, runnable)
	st, err := ParseStep(sc, "{breakRule: {pod: node-2/pod-2}}")
	require.NoError(t, err)
	assert.Equal(t, KindBreakRule, st.Kind)
	assert.Equal(t, len(sc.Steps), st.Index)
	_, err = ParseStep(sc, "{breakRule: {pod: node-2/pod-3}}")
	assert.ErrorContains(t, err, `pod "node-2/pod-3" does not exist yet: only 2 pods are added to node-2 before this step`)
	_, err = ParseStep(sc, "{pods: {node: node-2, delete: 2}}")
	require.NoError(t, err)
}
