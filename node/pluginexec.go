package node

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
	"golang.org/x/sys/unix"
)

// nodeExec is the kubelet-like runner's libcni exec hook: every plugin
// execution starts inside the node's network namespace and in a private
// mount namespace where the node's directory is at upstream's hard-coded
// paths (viewBinds), so an unmodified plugin finds its node's ipamd socket
// and writes its node's log, while the machine's own paths stay untouched.
type nodeExec struct {
	raw invoke.RawExec
	version.PluginDecoder
	netns string
	binds []bindMount
	view  *mountView // nil: a fresh view per execution
}

var _ invoke.Exec = (*nodeExec)(nil)

func (n *Node) exec() *nodeExec {
	return &nodeExec{raw: invoke.RawExec{Stderr: os.Stderr}, netns: n.nsPath, binds: n.viewBinds(), view: &n.view}
}

// ExecPlugin runs the plugin from a fresh OS thread that enters the node's
// namespaces and then dies: the child inherits the thread's namespaces at
// fork, and no other goroutine ever runs on that thread.
func (e *nodeExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := e.enter(); err != nil {
			done <- result{err: fmt.Errorf("node: enter the node's namespaces to run %s: %w", pluginPath, err)}
			return
		}
		out, err := e.raw.ExecPlugin(ctx, pluginPath, stdin, environ)
		done <- result{out, err}
	}()
	r := <-done
	return r.out, r.err
}

// enter moves the calling (locked) thread into the node's network namespace
// and its filesystem view.
func (e *nodeExec) enter() error {
	if e.view == nil {
		if err := enterView(e.binds); err != nil {
			return err
		}
	} else {
		fd, err := e.view.get(e.binds)
		if err == nil {
			err = enterMountView(fd)
		}
		if err != nil {
			return err
		}
	}
	fd, err := unix.Open(e.netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", e.netns, err)
	}
	return nil
}

// FindInPath finds the plugin as libcni's default exec does.
func (e *nodeExec) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}
