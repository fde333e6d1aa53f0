package multicall

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	RunIfPlugin()
	os.Exit(m.Run())
}

// TestRunIfPluginServesEachPluginByName runs this test binary under each
// plugin's name, as a lab does with its own binary: each name gets its own
// plugin (the about text skel prints without CNI_COMMAND, and a VERSION
// answer), and any other name runs the binary as itself.
func TestRunIfPluginServesEachPluginByName(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	for name, about := range map[string]string{
		"aws-cni":    "aws-cni: the enilab routed-ENI CNI plugin",
		"egress-cni": "egress-cni: the enilab egress CNI plugin",
	} {
		t.Run(name, func(t *testing.T) {
			link := filepath.Join(dir, name)
			require.NoError(t, os.Symlink(exe, link))

			// -test.run: a name RunIfPlugin did not serve runs no test
			// (rather than this one again), and fails the assertions.
			out, _ := exec.Command(link, "-test.run=^$").CombinedOutput()
			assert.Contains(t, string(out), about)

			cmd := exec.Command(link, "-test.run=^$")
			cmd.Env = append(os.Environ(), "CNI_COMMAND=VERSION")
			out, err := cmd.Output()
			require.NoError(t, err)
			assert.Contains(t, string(out), `"supportedVersions"`)
		})
	}
	t.Run("other", func(t *testing.T) {
		out, err := exec.Command(exe, "-test.run=^$").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.NotContains(t, string(out), "CNI plugin")
	})
}
