package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enilab/enilab/node/kubeapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startKubeAPI starts the lab's API server where the prototype of
// docs/upstream-ipamd.md runs it: in n's namespaces (node.startInNode),
// advertising n's primary address, its directory under the lab's.
func startKubeAPI(ctx context.Context, n *Node, binDir string) (*kubeapi.Server, error) {
	return kubeapi.Start(ctx, kubeapi.Config{
		BinDir: binDir, Dir: n.lab.dir, NetNS: n.nsPath, Start: n.startInNode, Advertise: n.primaryIP(),
	})
}

// kubeNode is n as its kubelet would register it.
func kubeNode(n *Node) kubeapi.Node {
	return kubeapi.Node{
		Name: n.name, Labels: n.Labels(), MaxPods: n.MaxPods(),
		ProviderID: "aws:///" + n.subnet.AZ + "/" + n.instanceID,
	}
}

// TestStartKubeAPIStopsWhatItStartedOnFailure: when etcd dies at start-up,
// kubeapi.Start (run in a node, as the prototype does) says so with etcd's own words, stops the kube-apiserver it
// had launched and leaves nothing in the lab's directory.
func TestStartKubeAPIStopsWhatItStartedOnFailure(t *testing.T) {
	bin := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "apiserver.pid")
	// etcd fails once kube-apiserver is up, so there is one to stop.
	require.NoError(t, os.WriteFile(filepath.Join(bin, "etcd"),
		[]byte("#!/bin/sh\nwhile [ ! -s "+pidFile+" ]; do sleep 0.01; done\n"+
			"echo 'etcd: member lab has already been bootstrapped' >&2\nexit 3\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "kube-apiserver"),
		[]byte("#!/bin/sh\necho $$ > "+pidFile+"\nexec sleep 300\n"), 0o755))
	l := fabricLab(t, "kapi", 0, nil)
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "m5.large"})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = startKubeAPI(ctx, n, bin)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "etcd exited before kube-apiserver was ready")
	assert.Contains(t, err.Error(), "already been bootstrapped")

	pid, err := os.ReadFile(pidFile)
	require.NoError(t, err, "kube-apiserver was launched")
	_, err = os.Stat("/proc/" + strings.TrimSpace(string(pid)))
	assert.True(t, os.IsNotExist(err), "kube-apiserver (pid %s) is stopped and reaped", pid)
	left, err := filepath.Glob(filepath.Join(l.Dir(), "kube-*"))
	require.NoError(t, err)
	assert.Empty(t, left, "the server's directory is removed")
}
