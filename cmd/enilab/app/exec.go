package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/vishvananda/netns"

	"github.com/enilab/enilab/internal/didyoumean"
	"github.com/enilab/enilab/internal/nsutil"
)

// execArgs is `enilab exec LAB NODE[/POD] -- CMD…`.
type execArgs struct {
	lab, target string
	cmd         []string
}

func parseExecArgs(args []string) (execArgs, error) {
	i := slices.Index(args, "--")
	if i < 0 {
		if len(args) > 2 {
			i = 2 // exec LAB NODE CMD… without the separator
			args = slices.Insert(slices.Clone(args), 2, "--")
		} else {
			return execArgs{}, usageErr("exec: want LAB NODE -- COMMAND…, e.g. enilab exec LAB node-1 -- ip rule")
		}
	}
	if i != 2 {
		return execArgs{}, usageErr("exec: want LAB NODE -- COMMAND… (a node such as node-1, or a pod such as node-1/pod-3)")
	}
	if len(args) == 3 {
		return execArgs{}, usageErr("exec: no command after --")
	}
	return execArgs{lab: args[0], target: args[1], cmd: args[3:]}, nil
}

// nsPath finds the network namespace of a node or a pod in the lab's
// state.json, or says which names there are.
func nsPath(st *labState, target string) (string, error) {
	nodeName, _, isPod := strings.Cut(target, "/")
	var nodes []string
	for _, n := range st.Nodes {
		nodes = append(nodes, n.Name)
		if n.Name != nodeName {
			continue
		}
		if !isPod {
			return n.NetNSPath, nil
		}
		var pods []string
		for _, p := range n.Pods {
			if p.Name != target {
				pods = append(pods, p.Name)
				continue
			}
			if p.NetNSPath == "" {
				return "", fmt.Errorf("pod %s has no network namespace (it was rejected: over the node's max pods)", target)
			}
			return p.NetNSPath, nil
		}
		return "", notFound("pod", target, pods, fmt.Sprintf("%s has no pods; add some with `enilab step %s '{pods: {node: %s, add: 3}}'`", nodeName, st.Name, nodeName))
	}
	return "", notFound("node", nodeName, nodes, "")
}

// notFound is the error for an unknown name, with a did-you-mean or the
// names there are.
func notFound(what, name string, have []string, none string) error {
	msg := fmt.Sprintf("no %s %q in the lab", what, name)
	switch s := didyoumean.Closest(name, have); {
	case s != "":
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	case len(have) > 0:
		msg += fmt.Sprintf(" (%ss: %s)", what, strings.Join(have, ", "))
	case none != "":
		msg += ": " + none
	}
	return &exitError{code: ExitUsage, err: errors.New(msg)}
}

// execIn runs `enilab exec`: the command runs in the namespace with the
// caller's stdio, and its exit status is exec's.
func execIn(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	a, err := parseExecArgs(args)
	if err != nil {
		return err
	}
	l, err := findLab(a.lab)
	if err != nil {
		return err
	}
	if !l.alive || l.state == nil {
		return &exitError{code: ExitLab, err: fmt.Errorf("lab %s is not up (its supervisor is gone or still starting); `enilab ls` lists the live labs", a.lab)}
	}
	path, err := nsPath(l.state, a.target)
	if err != nil {
		return err
	}
	if !nsutil.IsRoot() {
		return &exitError{code: ExitLab, err: errors.New("exec needs root: entering a network namespace does")}
	}
	code, err := runInNetNS(ctx, path, a.cmd, stdin, stdout, stderr)
	if err != nil {
		return &exitError{code: ExitLab, err: err}
	}
	if code != 0 {
		return &exitError{code: code, err: fmt.Errorf("%s exited with status %d", a.cmd[0], code), quiet: true}
	}
	return nil
}

// runInNetNS starts cmd from an OS thread moved into the namespace at path:
// a child inherits the namespaces of the thread that forks it. The thread
// is thrown away afterwards (never unlocked), so no other goroutine runs in
// the namespace. It returns the command's exit status.
func runInNetNS(ctx context.Context, path string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return 0, fmt.Errorf("exec: %w", err)
	}
	type started struct {
		cmd *exec.Cmd
		err error
	}
	ch := make(chan started, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread dies with this goroutine.
		h, err := netns.GetFromPath(path)
		if err != nil {
			ch <- started{err: fmt.Errorf("exec: open namespace %s: %w", path, err)}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ch <- started{err: fmt.Errorf("exec: enter namespace %s: %w", path, err)}
			return
		}
		cmd := exec.Command(bin, argv[1:]...)
		cmd.Args[0] = argv[0]
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
		ch <- started{cmd: cmd, err: cmd.Start()}
	}()
	s := <-ch
	if s.err != nil {
		return 0, s.err
	}
	// Ctrl-C is the child's (it shares the terminal): enilab waits for it
	// to exit; a SIGTERM to enilab is passed on.
	childOwnsInterrupt.Store(true)
	defer childOwnsInterrupt.Store(false)
	stop := context.AfterFunc(ctx, func() { _ = s.cmd.Process.Signal(syscall.SIGTERM) })
	defer stop()
	err = s.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	case err != nil:
		return 0, fmt.Errorf("exec: %w", err)
	}
	return 0, nil
}
