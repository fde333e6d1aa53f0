package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A node's ipamd socket and checkpoint (upstream's ipamdGRPCSocketPath in
// pkg/ipamd/rpc_handler.go and defaultBackingStorePath in pkg/ipamd/ipamd.go,
// both under /var/run/aws-node, a tmpfs on a node) are on the machine's
// tmpfs, its logs in the lab's temp directory; closing the lab removes both
// directories.
func TestNodeRunDirIsOnTmpfs(t *testing.T) {
	if runBase() == "" {
		t.Skip(shmDir + " is not a tmpfs here: a node's run directory is in the lab's temp directory")
	}
	l := churnLab(t)
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "c5.large"})
	require.NoError(t, err)

	socket, checkpoint := n.ipamdOpts.SocketPath, n.checkpointPath()
	require.FileExists(t, socket, "ipamd listens")
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(socket, &st))
	assert.Equal(t, int64(unix.TMPFS_MAGIC), int64(st.Type), "%s is on a tmpfs", socket)
	assert.Equal(t, filepath.Dir(socket), filepath.Dir(checkpoint), "the checkpoint is beside the socket")
	assert.True(t, strings.HasPrefix(n.IPAMDLogPath(), l.Dir()), "logs stay in the lab directory: %s", n.IPAMDLogPath())
	assert.Contains(t, n.viewBinds(), bindMount{AWSNodeRunDir, filepath.Dir(checkpoint)})

	require.NoError(t, l.Close())
	for _, d := range []string{l.runDir, l.dir} {
		_, err := os.Stat(d)
		assert.ErrorIs(t, err, os.ErrNotExist, "%s is removed with the lab", d)
	}
}

// Sweep and Leftovers find a lab's directories in the temp directory and
// on the tmpfs, each once, also when TMPDIR is the tmpfs itself.
func TestLabDirsListsBothPlacesOnce(t *testing.T) {
	if runBase() == "" {
		t.Skip(shmDir + " is not a tmpfs here: labs make no run directories there")
	}
	start := tempPrefix(testPrefix(t, "ld"))
	tmp, err := os.MkdirTemp("", start)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	run, err := os.MkdirTemp(shmDir, start)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(run) })

	assert.ElementsMatch(t, []string{tmp, run}, labDirs(start))
	t.Setenv("TMPDIR", shmDir)
	assert.ElementsMatch(t, []string{run}, labDirs(start), "the tmpfs is listed once when it is the temp directory")
}
