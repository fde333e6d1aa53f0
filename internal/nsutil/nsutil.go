// Package nsutil is the one place enilab enters, creates and removes network
// namespaces. Every switch happens on a locked OS thread that is either
// restored or thrown away, so no goroutine ever runs in a namespace it did
// not ask for — and the machine's root namespace is never the one changed.
package nsutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RunDir is where named namespaces are bind-mounted, as iproute2 does, so
// `ip netns exec NAME` works on them.
const RunDir = "/run/netns"

// Path returns the bind-mount path of the named namespace.
func Path(name string) string { return filepath.Join(RunDir, name) }

// IsRoot reports whether the process may create namespaces.
func IsRoot() bool { return os.Geteuid() == 0 }

// Do runs fn with the calling goroutine's OS thread inside the namespace at
// path, and restores the thread afterwards.
func Do(path string, fn func() error) error {
	return ns.WithNetNSPath(path, func(ns.NetNS) error { return fn() })
}

// DialContext connects to addr from inside the namespace at path: the
// socket is made there and stays there, whichever thread uses it later.
func DialContext(ctx context.Context, path, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := Do(path, func() error {
		var err error
		conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// NewNamed creates a network namespace bind-mounted at RunDir/name and
// returns its path. The unshare happens on a throw-away thread, so the
// caller's thread never leaves its namespace. An existing namespace of that
// name is an error.
func NewNamed(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return "", fmt.Errorf("nsutil: invalid namespace name %q", name)
	}
	p := Path(name)
	if _, err := os.Stat(p); err == nil {
		return "", fmt.Errorf("nsutil: namespace %q already exists", name)
	}
	if err := sharedRunDir(); err != nil {
		return "", err
	}
	errc := make(chan error, 1)
	go func() {
		// The thread stays locked and dies with the goroutine: it has been
		// moved into the new namespace and must not run anything else.
		runtime.LockOSThread()
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		_ = DeleteNamed(name)
		return "", fmt.Errorf("nsutil: create namespace %q: %w", name, err)
	}
	return p, nil
}

// DeleteNamed unmounts and removes the named namespace; a missing one is not
// an error. The namespace itself disappears once nothing holds it.
func DeleteNamed(name string) error {
	p := Path(name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nsutil: unmount %s: %w", p, err)
	}
	err := os.Remove(p)
	if errors.Is(err, unix.EBUSY) {
		// Still a mount point, yet unmounting found none at the path: a
		// mount laid over RunDir after this one was made hides it.
		return fmt.Errorf("nsutil: remove %s: %w: a mount over %s made after this namespace (as `ip netns add` makes on a machine where %s is not yet a mount point) hides it until that mount goes", p, err, RunDir, RunDir)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("nsutil: remove %s: %w", p, err)
	}
	return nil
}

// sharedRunDir makes RunDir a shared mount point, as iproute2's `ip netns
// add` does the first time it runs (a recursive bind of RunDir onto itself,
// then shared). Done before any namespace is mounted there, so a later `ip
// netns add` finds a mount point and lays no second one over RunDir — which
// would hide the namespaces already mounted below it, so that no unmount by
// path reaches them again. An exclusive flock on RunDir keeps two processes
// from both binding it. Once it has succeeded the process does not ask
// again (a recursive MS_SHARED walks every namespace mounted there).
func sharedRunDir() error {
	runDirMu.Lock()
	defer runDirMu.Unlock()
	if runDirShared {
		return nil
	}
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return fmt.Errorf("nsutil: %s: %w", RunDir, err)
	}
	d, err := os.Open(RunDir)
	if err != nil {
		return fmt.Errorf("nsutil: %s: %w", RunDir, err)
	}
	defer d.Close()
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("nsutil: lock %s: %w", RunDir, err)
	}
	err = unix.Mount("", RunDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err = unix.Mount(RunDir, RunDir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
			err = unix.Mount("", RunDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return fmt.Errorf("nsutil: make %s a shared mount point: %w", RunDir, err)
	}
	runDirShared = true
	return nil
}

var (
	runDirMu     sync.Mutex
	runDirShared bool // sharedRunDir has succeeded in this process
)

// ListNamed returns the names of the namespaces in RunDir that start with
// prefix.
func ListNamed(prefix string) ([]string, error) {
	entries, err := os.ReadDir(RunDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nsutil: list %s: %w", RunDir, err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Handle returns a netlink handle whose requests go to the namespace at
// path, usable from any goroutine. The caller closes it.
func Handle(path string) (*netlink.Handle, error) {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("nsutil: open %s: %w", path, err)
	}
	defer h.Close()
	// Route netlink is all enilab needs; asking for no other family keeps
	// this working on kernels built without xfrm or nfnetlink.
	nl, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("nsutil: netlink handle in %s: %w", path, err)
	}
	return nl, nil
}

// Retry calls fn again, a few times, while it fails with
// netlink.ErrDumpInterrupted: a dump that raced a change is simply redone.
func Retry[T any](fn func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for i := 0; i < 5; i++ {
		v, err = fn()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}
