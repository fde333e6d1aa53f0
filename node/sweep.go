package node

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/internal/nsutil"
)

// Leftovers lists what exists with the prefix: named namespaces, links in
// the calling process's namespace, netns mounts, and lab temp and run
// directories (rundir.go). An empty list means a lab cleaned up after itself.
func Leftovers(prefix string) ([]string, error) {
	if prefix == "" {
		return nil, errors.New("node: leftovers: empty prefix")
	}
	var out []string
	var errs []error
	names, err := nsutil.ListNamed(prefix)
	errs = append(errs, err)
	for _, n := range names {
		out = append(out, "netns "+n)
	}
	links, err := nsutil.Retry(netlink.LinkList)
	errs = append(errs, err)
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, prefix) {
			out = append(out, "link "+l.Attrs().Name)
		}
	}
	mounts, err := netnsMounts(prefix)
	errs = append(errs, err)
	for _, m := range mounts {
		out = append(out, "mount "+m)
	}
	for _, d := range labDirs(tempPrefix(prefix)) {
		out = append(out, "dir "+d)
	}
	return out, errors.Join(errs...)
}

func netnsMounts(prefix string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("node: mountinfo: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	want := filepath.Join(nsutil.RunDir, prefix)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// The kernel hands mountinfo out a page per read, and mounts made
		// or removed between two reads (other labs' namespaces) can show
		// a line twice: a mount point is one leftover however often it is
		// listed.
		if len(fields) > 4 && strings.HasPrefix(fields[4], want) && !slices.Contains(out, fields[4]) {
			out = append(out, fields[4])
		}
	}
	return out, sc.Err()
}

// Sweep removes what a crashed lab with this prefix left behind:
// namespaces (and so every link inside them) and its temp and run
// directories. A lab never creates links in the calling namespace, so
// Sweep never touches that namespace (Leftovers still reports such links).
// Prefixes shorter than 3 characters are refused so a typo cannot sweep
// someone else's lab.
func Sweep(prefix string) error {
	if len(prefix) < 3 {
		return fmt.Errorf("node: sweep: prefix %q too short (want at least 3 characters)", prefix)
	}
	var errs []error
	names, err := nsutil.ListNamed(prefix)
	errs = append(errs, err)
	for _, n := range names {
		errs = append(errs, nsutil.DeleteNamed(n))
	}
	mounts, err := netnsMounts(prefix)
	errs = append(errs, err)
	for _, m := range mounts {
		errs = append(errs, nsutil.DeleteNamed(filepath.Base(m)))
	}
	for _, d := range labDirs(tempPrefix(prefix)) {
		errs = append(errs, os.RemoveAll(d))
	}
	return errors.Join(errs...)
}

// SweepStale removes what labs whose prefix starts with family left behind
// more than olderThan ago: their namespaces and temp and run directories. A
// test suite calls it on start with its own prefix family ("enle-"), since
// a run killed by `go test -timeout` (a panic no deferred Close survives)
// or SIGKILL cleans nothing; the age spares labs of runs going on now.
func SweepStale(family string, olderThan time.Duration) error {
	if len(family) < 3 {
		return fmt.Errorf("node: sweep: prefix %q too short (want at least 3 characters)", family)
	}
	stale := func(path string) bool {
		fi, err := os.Lstat(path)
		return err == nil && time.Since(fi.ModTime()) > olderThan
	}
	var errs []error
	names, err := nsutil.ListNamed(family)
	errs = append(errs, err)
	for _, n := range names {
		if stale(nsutil.Path(n)) {
			errs = append(errs, nsutil.DeleteNamed(n))
		}
	}
	for _, d := range labDirs("enilab-" + family) {
		if stale(d) {
			errs = append(errs, os.RemoveAll(d))
		}
	}
	return errors.Join(errs...)
}
