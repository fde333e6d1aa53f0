package enilabtest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's Go example is example_test.go, word for word, so the README
// shows a test that runs in CI.
func TestREADMEExampleIsThisPackagesTest(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	example, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	_, after, found := strings.Cut(string(readme), "## Write your own tests in Go\n")
	require.True(t, found, "the README's section on Go tests")
	_, block, found := strings.Cut(after, "```go\n")
	require.True(t, found, "a Go block in it")
	block, _, _ = strings.Cut(block, "```\n")
	assert.Equal(t, string(example), block)
	assert.LessOrEqual(t, strings.Count(block, "\n"), 30, "the example stays under 30 lines")
}
