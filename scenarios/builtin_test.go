package scenarios

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every scenario file in the directory is built in, with its first comment
// line as its summary.
func TestEveryFileIsBuiltIn(t *testing.T) {
	onDisk, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	all := All()
	require.Len(t, all, len(onDisk))
	for _, b := range all {
		src, err := os.ReadFile(b.Name + ".yaml")
		require.NoError(t, err)
		assert.Equal(t, src, b.Source, b.Name)
		assert.NotEmpty(t, b.Summary, "%s.yaml starts with a comment line saying what it shows", b.Name)
	}
	tour, ok := Lookup("tour")
	require.True(t, ok)
	assert.Equal(t, "The default tour (`make demo`): what the VPC CNI's default warm pool costs.", tour.Summary)
	_, ok = Lookup("nope")
	assert.False(t, ok)
}
