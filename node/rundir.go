package node

import (
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// A node's /var/run is a tmpfs, so ipamd's socket and checkpoint live in
// memory there and the checkpoint's fsync costs next to nothing. A lab
// keeps its nodes' run directories (what a node sees at AWSNodeRunDir and
// EgressRunDir, and the plugin's state beside the socket) on the
// machine's tmpfs, shmDir, when it has one: a directory of the same name
// as the lab's temp directory, which keeps the logs, the CNI cache and
// the plugin links on disk. Without that tmpfs the lab's temp directory
// holds both, as a node's would if its /var/run were on disk.
const shmDir = "/dev/shm"

// runBase is the tmpfs a lab's run directories go on, or "" when the
// machine has none at shmDir.
func runBase() string {
	var st unix.Statfs_t
	if err := unix.Statfs(shmDir, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		return ""
	}
	return shmDir
}

// makeRunDir makes the lab's run directory on the tmpfs, or returns the
// lab's temp directory dir when there is no tmpfs.
func makeRunDir(dir, prefix string) (string, error) {
	base := runBase()
	if base == "" {
		return dir, nil
	}
	return os.MkdirTemp(base, tempPrefix(prefix))
}

// labDirs lists the temp and run directories whose names start with
// start, in the temp directory and on the tmpfs.
func labDirs(start string) []string {
	var out []string
	for _, base := range []string{os.TempDir(), shmDir} {
		dirs, _ := filepath.Glob(filepath.Join(base, start+"*"))
		for _, d := range dirs {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}
