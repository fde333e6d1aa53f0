package app

import (
	"errors"
	"fmt"
	"io"
)

// Exit statuses.
const (
	ExitOK          = 0
	ExitFailed      = 1   // the scenario ran and something did not hold
	ExitUsage       = 2   // bad command line or invalid scenario file
	ExitLab         = 3   // the lab could not be built or torn down
	ExitInterrupted = 130 // Ctrl-C / SIGTERM
)

// exitError carries an exit status; quiet ones have already been explained
// on the output.
type exitError struct {
	code  int
	err   error
	quiet bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format+"\n\n"+usageText, args...)}
}

// Exit prints err (unless already shown) to stderr and returns the process
// exit status for it.
func Exit(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	code := ExitFailed
	quiet := false
	var ee *exitError
	if errors.As(err, &ee) {
		code, quiet = ee.code, ee.quiet
	}
	if !quiet {
		fmt.Fprintf(stderr, "enilab: %v\n", err)
	}
	return code
}
