package app

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/node"
)

// sweep removes a killed run's leftovers by prefix; with no prefix, it
// removes every stale live lab (its supervisor gone): namespaces, temp
// dirs and run directory.
func sweep(args []string, stdout io.Writer) error {
	if len(args) > 1 || (len(args) == 1 && strings.HasPrefix(args[0], "-")) {
		return usageErr("sweep: name at most one lab prefix")
	}
	if !nsutil.IsRoot() {
		return &exitError{code: ExitLab, err: errors.New("sweep needs root")}
	}
	if len(args) == 0 {
		return sweepStaleLabs(stdout)
	}
	prefix := args[0]
	labs, err := listLabs()
	if err != nil {
		return &exitError{code: ExitLab, err: err}
	}
	for _, l := range labs {
		if l.alive && l.name != prefix && strings.HasPrefix(l.name, prefix) {
			return &exitError{code: ExitUsage, err: fmt.Errorf("the live lab %s starts with %s: sweeping would tear into it (`enilab down %s` first)", l.name, prefix, l.name)}
		}
	}
	if l, err := readLab(prefix); err == nil {
		if l.alive || l.starting {
			return &exitError{code: ExitUsage, err: fmt.Errorf("lab %s is up (supervisor pid %d): `enilab down %s` tears it down", prefix, l.pid, prefix)}
		}
		if err := cleanStale(l); err != nil {
			return &exitError{code: ExitLab, err: err}
		}
		fmt.Fprintf(stdout, "removed the stale live lab %s\n", prefix)
	}
	left, err := node.Leftovers(prefix)
	if err != nil {
		return &exitError{code: ExitLab, err: err}
	}
	if err := node.Sweep(prefix); err != nil {
		return &exitError{code: ExitLab, err: err}
	}
	fmt.Fprintf(stdout, "swept %d leftovers of %s\n", len(left), prefix)
	return nil
}

// sweepStaleLabs cleans every run directory whose supervisor is gone.
func sweepStaleLabs(stdout io.Writer) error {
	labs, err := listLabs()
	if err != nil {
		return &exitError{code: ExitLab, err: err}
	}
	n := 0
	var errs []error
	for _, l := range labs {
		if l.alive || l.starting {
			continue
		}
		if err := cleanStale(l); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(stdout, "removed the stale live lab %s (supervisor %d gone)\n", l.name, l.pid)
		n++
	}
	fmt.Fprintf(stdout, "swept %d stale live lab%s\n", n, plural(n))
	if err := errors.Join(errs...); err != nil {
		return &exitError{code: ExitLab, err: err}
	}
	return nil
}
