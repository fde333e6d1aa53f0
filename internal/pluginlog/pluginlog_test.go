package pluginlog

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One line per command, in the file the configuration names (made with its
// directory), the command's error returned as it was; no file, no line.
func TestWrapWritesOneLinePerCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "log", "plugin.log")
	target := func(*skel.CmdArgs) (Target, error) {
		return Target{File: file, Level: slog.LevelInfo, Attrs: []any{"network", "aws-cni"}}, nil
	}
	args := &skel.CmdArgs{ContainerID: "c1", Netns: "/run/netns/p", IfName: "eth0"}
	require.NoError(t, Wrap("ADD", func(*skel.CmdArgs) error { return nil }, target)(args))
	boom := errors.New("boom")
	assert.ErrorIs(t, Wrap("DEL", func(*skel.CmdArgs) error { return boom }, target)(args), boom)

	b, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Regexp(t, `(?s)level=INFO msg="ADD done" container=c1 netns=/run/netns/p ifname=eth0 network=aws-cni took=\S+\n`+
		`.*level=ERROR msg="DEL failed" container=c1 .* network=aws-cni took=\S+ err=boom\n$`, string(b))

	none := func(*skel.CmdArgs) (Target, error) { return Target{}, errors.New("bad config") }
	assert.ErrorIs(t, Wrap("ADD", func(*skel.CmdArgs) error { return boom }, none)(args), boom, "a bad configuration writes nothing and keeps the error")
}
