// Package egress is the egress-cni plugin of an IPv6 cluster, chained after
// aws-cni: it gives each IPv6 pod a second interface, v4if0, with an IPv4
// address from 169.254.172.0/22 (host-local IPAM), and SNATs that range to
// the node's primary IPv4 address, as upstream's cmd/egress-cni-plugin does
// for IPv4 egress (its IPv6-egress half for IPv4 clusters is not modelled).
package egress

import (
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"
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
	return func(args *skel.CmdArgs) error {
		start := time.Now()
		err := fn(args)
		c, perr := parseConf(args.StdinData, false)
		if perr != nil || c.PluginLogFile == "" {
			return err
		}
		if mkErr := os.MkdirAll(filepath.Dir(c.PluginLogFile), 0o755); mkErr != nil {
			return err
		}
		f, ferr := os.OpenFile(c.PluginLogFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if ferr != nil {
			return err
		}
		defer f.Close()
		log := slog.New(slog.NewTextHandler(f, nil))
		attrs := []any{"container", args.ContainerID, "netns", args.Netns, "ifname", args.IfName, "took", time.Since(start)}
		if err != nil {
			log.Error(cmd+" failed", append(attrs, "err", err)...)
		} else {
			log.Info(cmd+" done", attrs...)
		}
		return err
	}
}
