// Package multicall lets one binary be a lab and its CNI plugins, busybox
// style: a lab re-executes its own binary under the name aws-cni or
// egress-cni (node.LabConfig.PluginPath ""), and that binary's main or
// TestMain calls RunIfPlugin first thing. The plugin binaries a node
// installs, cmd/aws-cni and cmd/egress-cni, are one plugin each, as
// upstream ships them, and link nothing of the other.
package multicall

import (
	"os"

	"github.com/enilab/enilab/cniplugin"
	"github.com/enilab/enilab/cniplugin/egress"
)

// RunIfPlugin is the first statement of every main and TestMain whose binary
// a lab re-executes as a plugin: invoked as aws-cni or egress-cni it serves
// that plugin's CNI command and exits the process, so it never returns;
// under any other name it returns at once and the binary goes on as itself.
func RunIfPlugin() {
	switch {
	case cniplugin.IsPluginExec(os.Args[0]):
		cniplugin.Main()
	case egress.IsExec(os.Args[0]):
		egress.Main()
	}
}
