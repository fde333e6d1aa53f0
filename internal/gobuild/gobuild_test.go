package gobuild

import (
	"debug/buildinfo"
	"debug/elf"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/buildstamp"
)

// TestCommandBuildsAsMakeBuild builds the plugin and reads back how: a
// static executable (no program interpreter, so no dynamic loader runs at
// each exec) whose build settings are the Makefile's. CGO_ENABLED=0 is
// what upstream's Makefile target build-linux builds its aws-cni with
// (upstream's binary is also a PIE, which enilab's is not: README).
func TestCommandBuildsAsMakeBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds cmd/aws-cni")
	}
	out := filepath.Join(t.TempDir(), "aws-cni")
	require.NoError(t, Command(out, "../../cmd/aws-cni"))

	f, err := elf.Open(out)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "cmd/aws-cni is dynamically linked")
	}

	info, err := buildinfo.ReadFile(out)
	require.NoError(t, err)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	assert.Equal(t, "0", settings["CGO_ENABLED"])
	assert.Equal(t, Tags, settings["-tags"])
}

func TestCommandNamesWhatFailed(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the go tool")
	}
	err := Command(filepath.Join(t.TempDir(), "x"), "./no/such/package")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "go build ./no/such/package")
}

// Stamped builds several commands into one directory, each carrying the
// stamp, so a lab binary among them runs the plugins beside it.
func TestStampedBuildsCarryTheStamp(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds cmd/aws-cni and cmd/egress-cni")
	}
	dir := t.TempDir()
	require.NoError(t, Stamped(dir, "5eed", "../../cmd/aws-cni", "../../cmd/egress-cni"))
	for _, name := range []string{"aws-cni", "egress-cni"} {
		s, err := buildstamp.Of(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, "5eed", s, name)
	}
}

func TestCommandsBuildSeveralWithoutAStamp(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds cmd/aws-cni and cmd/egress-cni")
	}
	dir := t.TempDir()
	require.NoError(t, Commands(dir, "../../cmd/aws-cni", "../../cmd/egress-cni"))
	for _, name := range []string{"aws-cni", "egress-cni"} {
		s, err := buildstamp.Of(filepath.Join(dir, name))
		require.NoError(t, err, name)
		assert.Empty(t, s, name)
	}
	assert.ErrorContains(t, Commands(dir, "../../cmd/no-such-command"), "go build ../../cmd/no-such-command")
}

// Without the go command (the VM runner) the error says so and ends there.
func TestNoGoCommandSaysSo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := Commands(t.TempDir(), "./x")
	require.Error(t, err)
	assert.Equal(t, `go build ./x: exec: "go": executable file not found in $PATH`, err.Error())
}
