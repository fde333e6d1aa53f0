// Package app is the enilab command line: `run`, `up`, `exec`, `status`,
// `ls`, `step`, `down`, `validate`, `scenarios`, `limits`, `sweep`,
// `version` and `help`; and the hidden `__supervise`, the process that owns
// a live lab.
// main only wires signals and the exit status; everything a user sees comes
// from here, so it can be tested as a function.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/enilab/enilab/scenario"
	"github.com/enilab/enilab/scenario/nodelab"
)

const usageText = `usage:
  enilab run FILE [--report out.json] [--trace out.jsonl] [--replay in.jsonl]
                  [--prefix NAME] [--log FILE] [--color auto|always|never]
                  [--csv DIR] [--html FILE] [--quiet|--verbose] [--keep]
                  [--cni-plugin enilab|upstream|PATH] [--time-scale X]
  enilab up FILE [run flags] [--name NAME]
  enilab exec LAB NODE[/POD] -- COMMAND...
  enilab status [LAB] [--json]
  enilab ls
  enilab step LAB STEP
  enilab down LAB
  enilab compare FILE... [--jobs N] [--seed N] [--html FILE] [--out DIR] [--shard I/N]
  enilab report merge REPORT.json... > merged.json
  enilab validate FILE...
  enilab scenarios [NAME]
  enilab limits TYPE...
  enilab sweep [PREFIX]
  enilab version
  enilab help [COMMAND]

run       builds the scenario's lab (needs root), runs its steps, prints a
          timeline and exits 0 only if every expect held
compare   runs two scenario files, or every variant of one file's matrix:,
          with the same steps and prints one table of their figures
up        as run, but the lab stays up afterwards, owned by a background
          supervisor (run directory /run/enilab/LAB; also run --keep)
exec      runs a command inside a live lab's node or pod (network namespace)
status    prints a live lab's node table (every live lab's without LAB)
ls        lists the live labs
step      sends one step (as written under steps:) to a live lab
down      tears a live lab down and removes its run directory
report    merge combines reports of shards or machines into one (EC2 counters summed,
          latency percentiles over every pod)
validate  checks scenario files without running them, listing every problem
scenarios lists the built-in scenarios, or prints one
limits    prints an instance type's ENI, address and max-pods limits
sweep     removes what a killed run left behind (namespaces, temp dirs) for
          the lab prefix it printed or was given with --prefix; without
          PREFIX, every live lab whose supervisor is gone
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
	// Self is the enilab binary `up` starts as a lab's supervisor
	// ("" = this executable).
	Self string
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
	case "up":
		return c.up(ctx, args[1:], stdout, stderr)
	case superviseCmd:
		return c.supervise(ctx, args[1:], stdout)
	case "exec":
		return execIn(ctx, args[1:], os.Stdin, stdout, stderr)
	case "status":
		return status(ctx, args[1:], stdout)
	case "ls":
		return ls(args[1:], stdout)
	case "step":
		return step(ctx, args[1:], stdout)
	case "down":
		return down(ctx, args[1:], stdout)
	case "validate":
		return validate(args[1:], stdout)
	case "scenarios":
		return listScenarios(args[1:], stdout)
	case "limits":
		return limits(args[1:], stdout)
	case "sweep":
		return sweep(args[1:], stdout)
	case "report":
		return report(args[1:], stdout)
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
