// Package pluginlog writes a CNI plugin's one line per command to the file
// its configuration names (pluginLogFile), as upstream's plugins log to
// /var/log/aws-routed-eni on a node.
package pluginlog

import (
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
)

// Target is where and how a command's line is written, as the command's
// configuration says.
type Target struct {
	// File is the log file; "" writes nothing.
	File string
	// Level is the lowest level written.
	Level slog.Level
	// Attrs follow the command's own (container, netns, ifname).
	Attrs []any
}

// Wrap returns fn writing one line per call: the command, the container,
// namespace and interface, the target's attributes, how long it took and
// its error, if any. target reads the command's configuration; when it
// fails, or the file cannot be opened, nothing is written and fn's result
// stands.
func Wrap(cmd string, fn func(*skel.CmdArgs) error, target func(*skel.CmdArgs) (Target, error)) func(*skel.CmdArgs) error {
	return func(args *skel.CmdArgs) error {
		start := time.Now()
		err := fn(args)
		t, terr := target(args)
		if terr != nil || t.File == "" {
			return err
		}
		if mkErr := os.MkdirAll(filepath.Dir(t.File), 0o755); mkErr != nil {
			return err
		}
		f, ferr := os.OpenFile(t.File, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if ferr != nil {
			return err
		}
		defer f.Close()
		log := slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: t.Level}))
		attrs := append([]any{"container", args.ContainerID, "netns", args.Netns, "ifname", args.IfName}, t.Attrs...)
		attrs = append(attrs, "took", time.Since(start))
		if err != nil {
			log.Error(cmd+" failed", append(attrs, "err", err)...)
		} else {
			log.Info(cmd+" done", attrs...)
		}
		return err
	}
}
