package app

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"text/tabwriter"

	"github.com/enilab/enilab/internal/didyoumean"
	"github.com/enilab/enilab/scenarios"
)

// listScenarios lists the built-in scenarios, or prints the one named.
func listScenarios(args []string, stdout io.Writer) error {
	all := scenarios.All()
	switch len(args) {
	case 0:
		tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		for _, b := range all {
			fmt.Fprintf(tw, "%s\t%s\n", b.Name, b.Summary)
		}
		return quietPipe(tw.Flush())
	case 1:
		b, ok := scenarios.Lookup(args[0])
		if !ok {
			var names []string
			for _, b := range all {
				names = append(names, b.Name)
			}
			msg := fmt.Sprintf("scenarios: no built-in scenario %q", args[0])
			if s := didyoumean.Closest(args[0], names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return usageErr("%s", msg)
		}
		_, err := stdout.Write(b.Source)
		return quietPipe(err)
	}
	return usageErr("scenarios: name at most one scenario")
}

// quietPipe drops a broken pipe: a reader that stopped reading (`| head`)
// is not the user's error.
func quietPipe(err error) error {
	if errors.Is(err, syscall.EPIPE) {
		return nil
	}
	return err
}
