package node

import (
	"errors"
	"fmt"
	"os"

	"github.com/enilab/enilab/ipamd/datastore"
)

// What Checkpoint does to ipamd's checkpoint (upstream's
// /var/run/aws-node/ipam.json) of a node.
const (
	// CheckpointCorrupt truncates the file, as a full disk or a crash of
	// something else writing it would: ipamd's next start-up fails.
	CheckpointCorrupt = "corrupt"
	// CheckpointWrongVersion writes a version upstream does not read (as
	// after a downgrade): ipamd's next start-up fails.
	CheckpointWrongVersion = "wrongVersion"
	// CheckpointRemove deletes the file, the documented fix: ipamd then
	// starts as on a new node and no longer knows the running pods'
	// addresses (it may hand them out again).
	CheckpointRemove = "remove"
	// CheckpointRebuild rewrites the file from the node's running pods (an
	// operator restoring it from the CNI result cache): ipamd starts and
	// the running pods keep their addresses.
	CheckpointRebuild = "rebuild"
)

// CheckpointActions lists what Checkpoint takes.
var CheckpointActions = []string{CheckpointCorrupt, CheckpointWrongVersion, CheckpointRemove, CheckpointRebuild}

// checkpointPath is where the node's ipamd keeps its checkpoint.
func (n *Node) checkpointPath() string { return n.ipamdOpts.CheckpointPath }

// Checkpoint changes the node's ipamd checkpoint file as an operator (or an
// accident) would, while ipamd keeps running or crash-looping: the change
// takes effect at its next start.
func (n *Node) Checkpoint(action string) error {
	path := n.checkpointPath()
	if path == "" {
		return fmt.Errorf("node: %s: no ipamd, no checkpoint", n.name)
	}
	var err error
	switch action {
	case CheckpointCorrupt:
		err = n.corruptCheckpoint(path)
	case CheckpointWrongVersion:
		err = os.WriteFile(path, []byte(`{"version":"vpc-cni-ipam/0","allocations":[]}`), 0o644)
	case CheckpointRemove:
		if err = os.Remove(path); errors.Is(err, os.ErrNotExist) {
			err = nil
		}
	case CheckpointRebuild:
		err = n.rebuildCheckpoint(path)
	default:
		return fmt.Errorf("node: %s: unknown checkpoint action %q (want one of %v)", n.name, action, CheckpointActions)
	}
	if err != nil {
		return fmt.Errorf("node: %s: checkpoint %s: %w", n.name, action, err)
	}
	n.log.Info("checkpoint changed", "action", action, "path", path)
	return nil
}

// corruptCheckpoint cuts the file in half (an unreadable "{" when there is
// none yet).
func (n *Node) corruptCheckpoint(path string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	b = b[:len(b)/2]
	if len(b) == 0 {
		b = []byte("{")
	}
	return os.WriteFile(path, b, 0o644)
}

// rebuildCheckpoint writes one allocation per ready pod, keyed as the lab's
// CNI runtime calls the plugin (network aws-cni, the pod's container id,
// eth0).
func (n *Node) rebuildCheckpoint(path string) error {
	cp := datastore.Checkpoint{Version: datastore.CheckpointVersion, Allocations: []*datastore.CheckpointEntry{}}
	for _, p := range n.Pods() {
		if p.Phase != PhaseReady {
			continue
		}
		cp.Allocations = append(cp.Allocations, &datastore.CheckpointEntry{
			Key:                 datastore.Key{NetworkName: cniNetworkName, ContainerID: p.ContainerID, IfName: podIfName},
			IPv4:                p.IP.String(),
			AllocationTimestamp: p.Created.UnixNano(),
			Metadata:            datastore.Metadata{K8SPodNamespace: PodNamespace, K8SPodName: p.K8sName, Netns: p.NetNS},
		})
	}
	return datastore.File{Path: path}.Save(cp)
}
