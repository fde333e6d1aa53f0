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
	"report": {synopsis: "enilab report merge REPORT.json...",
		what: "Combines report JSONs (run --report, compare --out, one per --shard) into one report on\nstdout: steps, nodes, subnets and pods side by side, EC2 counters summed, pod latency\npercentiles over every pod, passed only if all passed. Refuses a newer report format version."},
	"up": {synopsis: "enilab up FILE [flags]",
		what: `Builds the scenario's lab (needs root), runs its steps with the timeline as run prints it,
and keeps the lab up: a supervisor process (this binary, in a session of its own) owns it and
outlives this command, which exits once the file's steps are done (0 only if every expect
held; the lab stays up either way). It then prints the lab's name, each node's network
namespace and log files, ready-to-paste commands to look inside, and how to stop it.
` + "`enilab run --keep FILE`" + ` is the same.

Run directory: /run/enilab/LAB/ (tmpfs: a reboot leaves nothing) holds
  pid             the supervisor's process id
  state.json      nodes, their namespaces and pods', log paths, the scenario
  api.sock        the supervisor's API (status, step, down; HTTP on a unix socket)
  supervisor.log  the supervisor's output: the whole timeline, steps sent later too
The lab's name (--name, default FILE's name and a random suffix) prefixes every namespace
and link; a name already up is refused. The supervisor tears everything down on
` + "`enilab down LAB`" + `, SIGTERM or SIGINT. Flags may come before or after FILE.`,
		flags: func() *flag.FlagSet { return upFlagSet("enilab up", &runFlags{}) }},
	"exec": {synopsis: "enilab exec LAB NODE[/POD] -- COMMAND...",
		what: `Runs COMMAND inside a live lab's node (its network namespace, where ipamd serves
127.0.0.1:61679 and :61678, IMDS answers on 169.254.169.254 with the instance role's
credentials and EC2 on 169.254.169.250), or inside a pod's (node-1/pod-3). Stdio is passed
through and the command's exit status is exec's. Only the network namespace changes (the
file system is the machine's, /sys included). For example:
  enilab exec LAB node-1 -- ip rule
  enilab exec LAB node-1 -- curl -s 127.0.0.1:61679/v1/enis
  enilab exec LAB node-1 -- aws ec2 describe-network-interfaces --endpoint-url http://169.254.169.250 --region us-west-2
  enilab exec LAB node-1/pod-1 -- ip addr
Needs root.`},
	"status": {synopsis: "enilab status [LAB] [flags]",
		what:  "Prints a live lab's figures now, as run's summary: the node table (ENIs, addresses, warm\npool, pods, ipamd), subnets, EC2 counters and pods. Without LAB, every live lab's.",
		flags: func() *flag.FlagSet { var b bool; return statusFlagSet(&b) }},
	"ls": {synopsis: "enilab ls",
		what: "Lists the live labs: name, scenario, nodes, pods, age and supervisor pid (a run directory\nwhose supervisor is gone is marked; `enilab down LAB` or `enilab sweep` cleans it)."},
	"step": {synopsis: "enilab step LAB STEP",
		what: `Sends one step to a live lab, written as an entry of a scenario's steps:
  enilab step LAB '{pods: {node: node-1, add: 3}}'
  enilab step LAB '{expect: {node: node-1, readyPods: 4, within: 30s}}'
The step is checked as the scenario parser would (nodes, pods alive now, fault names); a bad
step is refused (exit 2) and the lab is untouched. The step's timeline is streamed; exit 0
if it succeeded, 1 if not. Steps sent at once run one after the other.`},
	"down": {synopsis: "enilab down LAB",
		what: "Tears a live lab down and waits until its supervisor has exited and its namespaces, logs\nand run directory are gone. A lab whose supervisor died is swept instead (as `enilab sweep`)."},
	"validate": {synopsis: "enilab validate FILE...",
		what: "Checks scenario files without running them, listing every problem with its line and field,\nand warning where the VPC CNI would do something other than the file seems to ask."},
	"scenarios": {synopsis: "enilab scenarios [NAME]",
		what: "Lists the built-in scenarios with what each shows; with NAME, prints that scenario's file\n(e.g. `enilab scenarios tour > my.yaml` to start your own)."},
	"limits": {synopsis: "enilab limits TYPE...",
		what: "Prints an instance type's limits as the VPC CNI uses them: ENIs, addresses per ENI, pod\naddresses and max pods in secondary-IP and prefix mode, branch ENIs, vCPUs and memory."},
	"sweep": {synopsis: "enilab sweep [PREFIX]",
		what: "Removes what a killed run left behind (namespaces, links, temp dirs) for the lab prefix it\nprinted or was given with --prefix. Without PREFIX, removes every live lab whose supervisor\nis gone (its namespaces, temp dirs and run directory). A prefix of a live lab is refused:\nuse `enilab down`. Needs root."},
	"version": {synopsis: "enilab version", what: "Prints enilab's version."},
	"help":    {synopsis: "enilab help [COMMAND]", what: "Prints the usage, or one command's help with every flag."},
}

// wantsHelp reports whether args ask for the command's help (an exec's
// command after -- may have a -h of its own).
func wantsHelp(args []string) bool {
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[:i]
	}
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
