package node

import (
	"fmt"
	"os/exec"
	"runtime"
)

// startInNode starts cmd as one of the node's own daemons would run on the
// instance: in the node's network namespace and its filesystem view (the
// node's directory at upstream's paths), from a thread that then dies. The
// caller owns the process (Wait, Kill).
func (n *Node) startInNode(cmd *exec.Cmd) error {
	e := n.exec()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := e.enter(); err != nil {
			done <- fmt.Errorf("node: %s: enter the node's namespaces: %w", n.name, err)
			return
		}
		done <- cmd.Start()
	}()
	return <-done
}
