package buildstamp

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// build links a small Go program into dir/name with the linker flags
// ldflags, as `make build` links the commands.
func build(t *testing.T, dir, name, ldflags string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs the go tool")
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", out, "../../cniplugin/testdata/minimal")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

func TestFromLDFlags(t *testing.T) {
	for flags, want := range map[string]string{
		"-X " + Var + "=3f9a":                 "3f9a",
		"-X=" + Var + "=3f9a":                 "3f9a",
		"-s -w -X main.v=1 -X " + Var + "=ab": "ab",
		"-X " + Var + "=":                     "",
		"-X main.v=1":                         "",
		"-X":                                  "",
		"":                                    "",
	} {
		assert.Equal(t, want, fromLDFlags(flags), "%q", flags)
	}
}

func TestOfReadsTheStampABinaryCarries(t *testing.T) {
	dir := t.TempDir()
	s, err := Of(build(t, dir, "stamped", "-s -w -X "+Var+"=3f9a"))
	require.NoError(t, err)
	assert.Equal(t, "3f9a", s)

	s, err = Of(build(t, dir, "plain", "-s -w"))
	require.NoError(t, err)
	assert.Empty(t, s)

	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte("not a program\n"), 0o644))
	_, err = Of(text)
	assert.Error(t, err)
}

// A lab runs the plugin beside it only when both carry the same stamp;
// two binaries built without one are not of one build.
func TestSiblingOfOneBuildOnly(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "enilab")
	plugin := build(t, dir, "aws-cni", "-X "+Var+"=3f9a")

	p, ok := siblingOf(exe, "aws-cni", "3f9a")
	assert.True(t, ok)
	assert.Equal(t, plugin, p)

	_, ok = siblingOf(exe, "aws-cni", "77c0")
	assert.False(t, ok, "another build's plugin")
	_, ok = siblingOf(exe, "egress-cni", "3f9a")
	assert.False(t, ok, "no such file")

	build(t, dir, "aws-cni", "-s")
	_, ok = siblingOf(exe, "aws-cni", "")
	assert.False(t, ok, "neither has a stamp")
	_, ok = siblingOf(exe, "aws-cni", "3f9a")
	assert.False(t, ok, "the plugin has none")
}
