package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Upstream's hard-coded node paths, which a node's plugin executions see
// as the node's own directories: the ipamd socket and checkpoint
// (cmd/routed-eni-cni-plugin/cni.go ipamdSocketPath, ipamd's checkpoint
// file) and the plugin's and ipamd's logs (pluginLogFile in
// misc/10-aws.conflist, AWS_VPC_K8S_PLUGIN_LOG_FILE's default).
const (
	AWSNodeRunDir = "/var/run/aws-node"
	AWSNodeLogDir = "/var/log/aws-routed-eni"
)

// bindMount is one path of a node's filesystem view: source (a lab path)
// seen at target.
type bindMount struct{ target, source string }

// viewBinds is what a node's plugin executions see at upstream's paths: the
// node's run directory (rundir.go) at AWSNodeRunDir and its directory at
// AWSNodeLogDir. /etc/cni/net.d and /opt/cni/bin are left as the machine
// has them: the runner gives the plugin its configuration on stdin and
// finds the binary itself, and neither plugin reads them. In IPv6 mode the
// egress plugin's host-local store, upstream's /run/cni/v6pd, is the
// cni-v6pd directory of the node's run directory.
func (n *Node) viewBinds() []bindMount {
	b := []bindMount{{AWSNodeRunDir, n.runDir}, {AWSNodeLogDir, n.dir}}
	if n.ipamdCfg.EnableIPv6 {
		b = append(b, bindMount{EgressRunDir, n.egressDir()})
	}
	return b
}

// EgressRunDir holds upstream's egress-v4-ipam, the host-local dataDir of
// the egress plugin in IPv6 mode (cmd/aws-vpc-cni egressPluginIpamDataDirV4).
const EgressRunDir = "/run/cni/v6pd"

// egressDir is the node's directory seen at EgressRunDir.
func (n *Node) egressDir() string { return filepath.Join(n.runDir, "cni-v6pd") }

// enterView moves the calling OS thread into a private mount namespace
// where each bind's source is mounted at its target. The thread must be
// locked and thrown away afterwards (its goroutine exits without
// unlocking): it no longer sees the machine's mounts as they are. Nothing
// changes for the rest of the machine: / is made a recursive slave first, so
// no mount made here propagates out, and a target that does not exist is
// made on a tmpfs laid over its nearest existing parent (whose entries are
// bound back in place), never on the machine's disk.
func enterView(binds []bindMount) error {
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make / a recursive slave: %w", err)
	}
	for _, b := range binds {
		if err := mountPoint(b.target); err != nil {
			return fmt.Errorf("mount point %s: %w", b.target, err)
		}
		if err := unix.Mount(b.source, b.target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s at %s: %w", b.source, b.target, err)
		}
	}
	return nil
}

// mountPoint makes the directory target exist in this mount namespace only:
// if it is missing, the nearest existing parent is shadowed by a tmpfs
// holding the parent's entries (bound back) and the missing directories.
func mountPoint(target string) error {
	if st, err := os.Stat(target); err == nil {
		if !st.IsDir() {
			return errors.New("exists and is not a directory")
		}
		return nil
	}
	parent := filepath.Dir(target)
	for {
		if _, err := os.Stat(parent); err == nil {
			break
		}
		if parent == "/" {
			return errors.New("no existing parent")
		}
		parent = filepath.Dir(parent)
	}
	real, err := filepath.EvalSymlinks(parent)
	if err != nil {
		return err
	}
	if real == "/" {
		return errors.New("would shadow / (create the parent directory on the machine first)")
	}
	if err := shadow(real); err != nil {
		return fmt.Errorf("shadow %s: %w", real, err)
	}
	return os.MkdirAll(target, 0o755)
}

// shadow lays a tmpfs over dir and binds each of dir's former entries back
// at its name, so dir looks the same but new entries land on the tmpfs. The
// former directory is reached through an open descriptor once covered.
func shadow(dir string) error {
	old, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer old.Close()
	st, err := old.Stat()
	if err != nil {
		return err
	}
	entries, err := old.ReadDir(-1)
	if err != nil {
		return err
	}
	mode := "mode=" + strconv.FormatUint(uint64(unixMode(st.Mode())), 8)
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, mode); err != nil {
		return fmt.Errorf("tmpfs: %w", err)
	}
	from := "/proc/self/fd/" + strconv.Itoa(int(old.Fd()))
	for _, e := range entries {
		if err := bindBack(filepath.Join(from, e.Name()), filepath.Join(dir, e.Name()), e.Type()); err != nil {
			return fmt.Errorf("%s: %w", e.Name(), err)
		}
	}
	return nil
}

// bindBack recreates one former entry at dst: a symlink as itself, any
// other entry as a bind mount of the original.
func bindBack(src, dst string, typ fs.FileMode) error {
	switch {
	case typ&fs.ModeSymlink != 0:
		to, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(to, dst)
	case typ.IsDir():
		if err := os.Mkdir(dst, 0o755); err != nil {
			return err
		}
	default:
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_ = f.Close()
	}
	return unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, "")
}

// unixMode is a directory's permission bits with setuid, setgid and sticky
// as the kernel spells them.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	if m&fs.ModeSetgid != 0 {
		u |= unix.S_ISGID
	}
	if m&fs.ModeSetuid != 0 {
		u |= unix.S_ISUID
	}
	return u
}

// mountView is a node's filesystem view made once and kept: the mount
// namespace enterView builds, held open by a descriptor, which each plugin
// execution enters with setns instead of copying the machine's mount table
// and mounting the binds again (unshare and thread exit cost about a
// millisecond per CNI call). The view's / is a recursive slave of the
// machine's, so mounts made later (a pod's network namespace under the
// shared /run/netns) reach it as they reached a fresh view. A change of
// binds (IPv6 mode's egress directory) makes a new view; every view is
// closed with the node.
type mountView struct {
	mu     sync.Mutex
	binds  []bindMount
	fd     int
	old    []int // views of earlier binds, which an execution may still enter
	closed bool
}

// get returns the view for binds, making it on first use.
func (v *mountView) get(binds []bindMount) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return -1, errors.New("the node is closed")
	}
	if v.binds != nil && slices.Equal(v.binds, binds) {
		return v.fd, nil
	}
	fd, err := newMountView(binds)
	if err != nil {
		return -1, err
	}
	if v.binds != nil {
		v.old = append(v.old, v.fd)
	}
	v.binds, v.fd = slices.Clone(binds), fd
	return fd, nil
}

// close releases every view; the namespaces go once no plugin runs in them.
func (v *mountView) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.binds != nil {
		_ = unix.Close(v.fd)
	}
	for _, fd := range v.old {
		_ = unix.Close(fd)
	}
	v.binds, v.old, v.closed = nil, nil, true
}

// newMountView builds binds' view on a throw-away thread and returns a
// descriptor of its mount namespace.
func newMountView(binds []bindMount) (int, error) {
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := enterView(binds); err != nil {
			done <- result{-1, err}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			err = fmt.Errorf("open the view's mount namespace: %w", err)
		}
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

// enterMountView moves the calling (locked, thrown-away) thread into the
// view fd, keeping its working directory's path.
func enterMountView(fd int) error {
	cwd, cwdErr := os.Getwd()
	// setns into a mount namespace needs a thread of its own fs_struct.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare filesystem attributes: %w", err)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("enter the node's mount namespace: %w", err)
	}
	// setns leaves the thread at the view's root; a fresh view (unshare)
	// kept the working directory, so the plugin starts where it did.
	// A directory the view cannot reach leaves it at /.
	if cwdErr == nil {
		_ = unix.Chdir(cwd)
	}
	return nil
}
