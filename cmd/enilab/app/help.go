package app

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// command is one command's own help: `enilab help CMD` and `enilab CMD -h`.
type command struct {
	synopsis string
	what     string
	flags    func() *flag.FlagSet // nil: the command takes no flags
}

var commands = map[string]command{
	"run": {synopsis: "enilab run FILE [flags]",
		what:  "Builds the scenario's lab (needs root), runs its steps, prints a timeline and exits 0 only\nif every expect held. Flags may come before or after FILE.",
		flags: func() *flag.FlagSet { return runFlagSet(&runFlags{}) }},
	"compare": {synopsis: "enilab compare FILE... [flags]",
		what:  "Runs every variant — each FILE, or each combination of a file's matrix: — with the same steps\n(needs root), then prints one table: IPs held and warm per node, subnet addresses used, EC2\ncalls and throttles, pod ready latency p50/p90/p99, failed steps. Exits 1 if a variant failed.",
		flags: func() *flag.FlagSet { return compareFlagSet(&compareFlags{}) }},
	"validate": {synopsis: "enilab validate FILE...",
		what: "Checks scenario files without running them, listing every problem with its line and field,\nand warning where the VPC CNI would do something other than the file seems to ask."},
	"scenarios": {synopsis: "enilab scenarios [NAME]",
		what: "Lists the built-in scenarios with what each shows; with NAME, prints that scenario's file\n(e.g. `enilab scenarios tour > my.yaml` to start your own)."},
	"limits": {synopsis: "enilab limits TYPE...",
		what: "Prints an instance type's limits as the VPC CNI uses them: ENIs, addresses per ENI, pod\naddresses and max pods in secondary-IP and prefix mode, branch ENIs, vCPUs and memory."},
	"sweep": {synopsis: "enilab sweep PREFIX",
		what: "Removes what a killed run left behind (namespaces, links, temp dirs) for the lab prefix it\nprinted or was given with --prefix. Needs root."},
	"version": {synopsis: "enilab version", what: "Prints enilab's version."},
	"help":    {synopsis: "enilab help [COMMAND]", what: "Prints the usage, or one command's help with every flag."},
}

// wantsHelp reports whether args ask for the command's help.
func wantsHelp(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "--help" || a == "-help" })
}

// help prints the usage, or one command's help.
func help(args []string, stdout io.Writer) error {
	switch len(args) {
	case 0:
		fmt.Fprintln(stdout, usageText)
		return nil
	case 1:
		c, ok := commands[args[0]]
		if !ok {
			return usageErr("help: unknown command %q", args[0])
		}
		printCommandHelp(stdout, c)
		return nil
	}
	return usageErr("help: name at most one command")
}

func printCommandHelp(w io.Writer, c command) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", c.synopsis, c.what)
	if c.flags == nil {
		return
	}
	fs := c.flags()
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nflags:\n%s", b.String())
}
