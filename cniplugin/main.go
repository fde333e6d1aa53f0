package cniplugin

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/enilab/enilab/internal/pluginlog"
)

// about is printed when the binary runs without CNI_COMMAND.
const about = "aws-cni: the enilab routed-ENI CNI plugin (Amazon VPC CNI compatible)"

// ExecName is the name under which a binary must behave as the plugin.
const ExecName = PluginType

// Main is the plugin binary: it serves one CNI command from the environment
// and stdin, and exits the process (0 on success, 1 after printing a CNI
// error on stdout).
func Main() {
	os.Exit(run(os.Getenv, os.Stdin, os.Stdout))
}

// IsPluginExec reports whether argv0 asks this binary to be the plugin; a
// lab binary checks it first thing and calls Main (package multicall).
func IsPluginExec(argv0 string) bool { return filepath.Base(argv0) == ExecName }

func run(getenv func(string) string, stdin io.Reader, stdout io.Writer) int {
	p := &plugin{dial: dialIPAMD, getenv: getenv}
	// skel would report unparseable JSON as a decoding failure (6) and an
	// unknown version tersely; the configuration is checked first so a
	// person sees code 7 (or 1) and exactly what is wrong.
	data, err := io.ReadAll(stdin)
	if err != nil {
		return printErr(stdout, types.NewError(types.ErrIOFailure, "aws-cni: read stdin: "+err.Error(), ""))
	}
	switch getenv("CNI_COMMAND") {
	case "ADD", "DEL", "CHECK", "STATUS", "GC":
		if _, err := ParseConfig(data); err != nil {
			return printErr(stdout, asCNIError(err))
		}
	}
	e := withStdin(data, func() *types.Error {
		return skel.PluginMainFuncsWithError(skel.CNIFuncs{
			Add: logged("ADD", p.cmdAdd), Del: logged("DEL", p.cmdDel), Check: logged("CHECK", p.cmdCheck),
			Status: logged("STATUS", p.cmdStatus), GC: logged("GC", p.cmdGC),
		}, version.PluginSupports(SupportedVersions...), about)
	})
	if e != nil {
		return printErr(stdout, e)
	}
	return 0
}

// stdinMu serialises withStdin: os.Stdin belongs to the whole process.
var stdinMu sync.Mutex

// withStdin runs serve with os.Stdin reading data. skel reads the
// configuration from os.Stdin and nothing else, and run has already
// consumed the real stdin to check the configuration before skel sees it,
// so skel gets the same bytes through a pipe. The goroutine filling the pipe
// is owned here: skel may return without reading (VERSION, a missing
// variable), so the read end is closed, which ends a blocked write, and
// withStdin waits for the goroutine before it returns.
func withStdin(data []byte, serve func() *types.Error) *types.Error {
	r, w, err := os.Pipe()
	if err != nil {
		return types.NewError(types.ErrIOFailure, "aws-cni: "+err.Error(), "")
	}
	stdinMu.Lock()
	defer stdinMu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = w.Write(data)
		w.Close()
	}()
	saved := os.Stdin
	os.Stdin = r
	defer func() {
		os.Stdin = saved
		r.Close()
		<-done
	}()
	return serve()
}

// logged writes one line per command to pluginLogFile when it is set, at
// pluginLogLevel, naming the CNI_ARGS and the network.
func logged(cmd string, fn func(*skel.CmdArgs) error) func(*skel.CmdArgs) error {
	return pluginlog.Wrap(cmd, fn, func(args *skel.CmdArgs) (pluginlog.Target, error) {
		s, err := ParseConfig(args.StdinData)
		if err != nil {
			return pluginlog.Target{}, err
		}
		return pluginlog.Target{File: s.LogFile, Level: s.LogLevel, Attrs: []any{"args", args.Args, "network", s.Conf.Name}}, nil
	})
}

func printErr(w io.Writer, e *types.Error) int {
	data, err := json.MarshalIndent(e, "", "    ")
	if err == nil {
		_, _ = w.Write(append(data, '\n'))
	}
	return 1
}

func asCNIError(err error) *types.Error {
	var e *types.Error
	if errors.As(err, &e) {
		return e
	}
	return types.NewError(types.ErrInternal, err.Error(), "")
}
