package nodelab

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/node"
)

func TestPluginPathChoices(t *testing.T) {
	for _, c := range []string{"", "enilab"} {
		p, err := PluginPath(c)
		require.NoError(t, err)
		assert.Equal(t, "", p, "%q is the running binary's own plugin", c)
	}
	p, err := PluginPath("./bin/aws-cni")
	require.NoError(t, err)
	assert.Equal(t, "./bin/aws-cni", p)

	bin := filepath.Join(t.TempDir(), "aws-cni")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	t.Setenv(node.UpstreamPluginEnv, bin)
	p, err = PluginPath("upstream")
	require.NoError(t, err)
	assert.Equal(t, bin, p, "$%s names the upstream binary", node.UpstreamPluginEnv)

	t.Setenv(node.UpstreamPluginEnv, filepath.Join(t.TempDir(), "missing"))
	_, err = PluginPath("upstream")
	assert.ErrorContains(t, err, "cni plugin upstream: "+node.UpstreamPluginEnv)
}
