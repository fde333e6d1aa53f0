package app

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// `enilab CMD -h` and `enilab help CMD` print the command's help with every
// flag and exit 0.
func TestCommandHelpListsEveryFlag(t *testing.T) {
	for _, args := range [][]string{{"run", "-h"}, {"run", "x.yaml", "--help"}, {"help", "run"}} {
		out, errOut, code := run(noLab, args...)
		require.Equal(t, ExitOK, code, "%v: %s", args, errOut)
		assert.True(t, strings.HasPrefix(out, "usage: enilab run FILE [flags]"), out)
		for _, flag := range []string{"-report", "-trace", "-replay", "-prefix", "-log", "-color", "-csv", "-html"} {
			assert.Contains(t, out, "  "+flag+" string", "%v", args)
		}
	}
	for name := range commands {
		out, _, code := run(noLab, "help", name)
		assert.Equal(t, ExitOK, code, name)
		assert.Contains(t, out, "usage: enilab "+name, name)
	}
	_, errOut, code := run(noLab, "help", "frobnicate")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, `help: unknown command "frobnicate"`)
}

// `enilab scenarios` lists every built-in with its summary; with a name it
// prints the file, which validates as it is.
func TestScenariosListsAndPrintsBuiltins(t *testing.T) {
	out, _, code := run(noLab, "scenarios")
	require.Equal(t, ExitOK, code)
	assert.Len(t, strings.Split(strings.TrimSpace(out), "\n"), len(builtins(t)))
	assert.Regexp(t, `(?m)^max-pods +The max-pods wall\.$`, out, "names padded to the longest")

	out, _, code = run(noLab, "scenarios", "max-pods")
	require.Equal(t, ExitOK, code)
	want, err := os.ReadFile("../../../scenarios/max-pods.yaml")
	require.NoError(t, err)
	assert.Equal(t, string(want), out)

	_, errOut, code := run(noLab, "scenarios", "max-pod")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, `no built-in scenario "max-pod" (did you mean "max-pods"?)`)
}

// `enilab limits` gives the figures EKS and the VPC CNI use: eni-max-pods
// arithmetic and the prefix-mode cap (upstream's max-pods calculator), the
// branch ENIs of the instance-type table, and the Xen fallback.
func TestLimits(t *testing.T) {
	out, _, code := run(noLab, "limits", "m5.large", "c4.large", "m5.8xlarge")
	require.Equal(t, ExitOK, code)
	for _, want := range []string{
		"m5.large (nitro, 2 vCPUs, 8192 MiB, x86_64)",
		"  max pods                 29 (custom networking: 20)",
		"  prefix delegation        27 /28 prefixes = 432 pod addresses; max pods 110",
		"  branch ENIs              9 (security groups for pods)",
		"c4.large (xen,",
		"  prefix delegation        not on this type (not Nitro): ipamd warns and uses secondary IPs",
		"m5.8xlarge (nitro, 32 vCPUs",
		"  max pods                 234 (custom networking: 205)",
		"max pods 250",
	} {
		assert.Contains(t, out, want)
	}
	_, errOut, code := run(noLab, "limits", "m5.larg")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, `unknown instance type "m5.larg" (did you mean "m5.large"?)`)
	_, errOut, code = run(noLab, "limits")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "name at least one instance type")
}

// Every command has its line in the usage and its own help, and the live
// labs' help names the run directory and every flag.
func TestUsageNamesEveryCommand(t *testing.T) {
	for name := range commands {
		assert.Contains(t, usageText, "\n  enilab "+name, name)
		assert.Regexp(t, `(?m)^`+name+` +\S`, usageText, "%s has a line saying what it does", name)
	}
	out, _, code := run(noLab, "up", "-h")
	require.Equal(t, ExitOK, code)
	for _, want := range []string{"/run/enilab/LAB/", "pid", "state.json", "api.sock", "supervisor.log",
		"  -name string", "  -report string", "  -prefix string", "  -color string"} {
		assert.Contains(t, out, want)
	}
	out, _, _ = run(noLab, "help", "status")
	assert.Contains(t, out, "  -json")
	out, _, _ = run(noLab, "exec", "lab", "node-1", "--", "ls", "-h")
	assert.NotContains(t, out, "usage: enilab exec", "the command's -h is the command's")
}
