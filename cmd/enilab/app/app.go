// Package app is the enilab command line: `run`, `validate`, `scenarios`,
// `limits`, `sweep`, `version` and `help`.
// main only wires signals and the exit status; everything a user sees comes
// from here, so it can be tested as a function.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/enilab/enilab/scenario"
	"github.com/enilab/enilab/scenario/nodelab"
)

const usageText = `usage:
  enilab run FILE [--report out.json] [--trace out.jsonl] [--replay in.jsonl]
                  [--prefix NAME] [--log FILE] [--color auto|always|never]
                  [--csv DIR] [--html FILE]
  enilab compare FILE... [--jobs N] [--seed N] [--html FILE] [--out DIR]
  enilab validate FILE...
  enilab scenarios [NAME]
  enilab limits TYPE...
  enilab sweep PREFIX
  enilab version
  enilab help [COMMAND]

run       builds the scenario's lab (needs root), runs its steps, prints a
          timeline and exits 0 only if every expect held
compare   runs two scenario files, or every variant of one file's matrix:,
          with the same steps and prints one table of their figures
validate  checks scenario files without running them, listing every problem
scenarios lists the built-in scenarios, or prints one
limits    prints an instance type's ENI, address and max-pods limits
sweep     removes what a killed run left behind (namespaces, temp dirs) for
          the lab prefix it printed or was given with --prefix
version   prints the version
help      prints this, or one command's help with every flag (also CMD -h)

exit status: 0 passed, 1 an expect or step failed, 2 usage or invalid file,
3 the lab could not be built, 130 interrupted`

// Run runs the enilab command line with args (without the program name).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return CLI{NewLab: nodelab.New, NeedRoot: true}.Run(ctx, args, stdout, stderr)
}

// CLI is the command line with its lab builder injectable, so tests can run
// it against a fake lab.
type CLI struct {
	NewLab scenario.NewLabFunc
	// NeedRoot refuses `run` early, with advice, when not root; a fake lab
	// does not need it.
	NeedRoot bool
}

// Run runs one command.
func (c CLI) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stdout, usageText)
		return &exitError{code: ExitUsage, err: errors.New("no command"), quiet: true}
	}
	if c, ok := commands[args[0]]; ok && wantsHelp(args[1:]) {
		printCommandHelp(stdout, c)
		return nil
	}
	switch args[0] {
	case "run":
		return c.run(ctx, args[1:], stdout, stderr)
	case "compare":
		return c.compare(ctx, args[1:], stdout, stderr)
	case "validate":
		return validate(args[1:], stdout)
	case "scenarios":
		return listScenarios(args[1:], stdout)
	case "limits":
		return limits(args[1:], stdout)
	case "sweep":
		return sweep(args[1:], stdout)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help":
		return help(args[1:], stdout)
	case "-h", "--help", "-help":
		fmt.Fprintln(stdout, usageText)
		return nil
	}
	return usageErr("unknown command %q", args[0])
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
