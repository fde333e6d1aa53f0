package app

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/node"
)

func sweep(args []string, stdout io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usageErr("sweep: name exactly one lab prefix")
	}
	if !nsutil.IsRoot() {
		return &exitError{code: ExitLab, err: errors.New("sweep needs root")}
	}
	left, err := node.Leftovers(args[0])
	if err != nil {
		return &exitError{code: ExitLab, err: err}
	}
	if err := node.Sweep(args[0]); err != nil {
		return &exitError{code: ExitLab, err: err}
	}
	fmt.Fprintf(stdout, "swept %d leftovers of %s\n", len(left), args[0])
	return nil
}
