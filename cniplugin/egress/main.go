// Package egress is the egress-cni plugin of an IPv6 cluster, chained after
// aws-cni: it gives each IPv6 pod a second interface, v4if0, with an IPv4
// address from 169.254.172.0/22 (host-local IPAM), and SNATs that range to
// the node's primary IPv4 address, as upstream's cmd/egress-cni-plugin does
// for IPv4 egress (its IPv6-egress half for IPv4 clusters is not modelled).
package egress

import (
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/enilab/enilab/internal/pluginlog"
)

// ExecName is the name under which a binary must behave as this plugin.
const ExecName = "egress-cni"

// IsExec reports whether argv0 asks the binary to be egress-cni.
func IsExec(argv0 string) bool { return filepath.Base(argv0) == ExecName }

// Main serves one CNI command and exits the process.
func Main() {
	e := skel.PluginMainFuncsWithError(skel.CNIFuncs{
		Add: logged("ADD", cmdAdd), Del: logged("DEL", cmdDel), Check: logged("CHECK", cmdCheck),
	}, version.All, "egress-cni: the enilab egress CNI plugin (IPv4 egress of IPv6 pods)")
	if e != nil {
		if err := e.Print(); err != nil {
			os.Exit(2)
		}
		os.Exit(1)
	}
	os.Exit(0)
}

// logged writes one line per command to pluginLogFile when it is set
// (upstream: egress-v4-plugin.log).
func logged(cmd string, fn func(*skel.CmdArgs) error) func(*skel.CmdArgs) error {
	return pluginlog.Wrap(cmd, fn, func(args *skel.CmdArgs) (pluginlog.Target, error) {
		c, err := parseConf(args.StdinData, false)
		if err != nil {
			return pluginlog.Target{}, err
		}
		return pluginlog.Target{File: c.PluginLogFile}, nil
	})
}
