package ipamd

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/ipamd/datastore"
)

// Upstream's DataStore.ReadBackingStore: a checkpoint that exists but
// cannot be read (truncated, garbage, empty, another version) makes
// nodeInit fail, so aws-node exits (main.go: "Initialization failure") and
// kubelet restarts it; nothing listens on the socket meanwhile. Once the
// file is removed, start-up rebuilds the pool from EC2.
func TestCorruptCheckpointFailsStartupAsReadBackingStore(t *testing.T) {
	for name, tc := range map[string]struct {
		damage func([]byte) []byte
		want   string
	}{
		"truncated": {func(b []byte) []byte { return b[:len(b)/2] }, "failed ipam state recovery from backing store"},
		"garbage":   {func([]byte) []byte { return []byte("\x00\x01not json") }, "failed ipam state recovery from backing store"},
		"empty":     {func([]byte) []byte { return nil }, "failed ipam state recovery from backing store"},
		"version": {func([]byte) []byte { return []byte(`{"version":"vpc-cni-ipam/0","allocations":[]}`) },
			"unexpected checkpointVersion: vpc-cni-ipam/0/vpc-cni-ipam/1"},
	} {
		t.Run(name, func(t *testing.T) {
			l := newTestLab(t)
			n := l.newNode(nodeSpec{Type: "m5.large"})
			n.start()
			n.addOK(3)
			l.advance(10*time.Second, time.Second)
			n.stop()
			b, err := os.ReadFile(n.opts.CheckpointPath)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(n.opts.CheckpointPath, tc.damage(b), 0o644))

			_, err = n.tryStart()
			require.Error(t, err)
			assert.True(t, errors.Is(err, datastore.ErrCorruptCheckpoint), "%v", err)
			assert.Contains(t, err.Error(), "failed ipam state recovery")
			assert.Contains(t, err.Error(), tc.want)
			_, statErr := os.Stat(n.opts.SocketPath)
			assert.True(t, os.IsNotExist(statErr), "no socket while start-up fails: the plugin cannot connect")

			_, err = n.tryStart()
			require.Error(t, err, "a restart fails the same way while the file is unchanged")

			require.NoError(t, os.Remove(n.opts.CheckpointPath))
			n.start()
			checkAgreement(t, n)
			st := n.d.Status()
			assert.Equal(t, 18, st.TotalIPs, "pool rebuilt from EC2")
			assert.Equal(t, 0, st.AssignedIPs)
			assert.True(t, n.addPod("after").Success)
		})
	}
}

// Upstream's DataStore.ReadBackingStore writes the checkpoint back only
// when it read one: a new node has no ipam.json until its first pod, and a
// restart rewrites the one it found (in IPv4 and IPv6 mode).
func TestCheckpointWrittenAsReadBackingStore(t *testing.T) {
	for mode, env := range map[string]map[string]string{
		"ipv4": nil,
		"ipv6": ipv6Env,
	} {
		t.Run(mode, func(t *testing.T) {
			l := newTestLab(t)
			if env != nil {
				l.withIPv6()
			}
			n := l.newNode(nodeSpec{Type: "m5.large", Env: env})
			n.start()
			_, err := os.Stat(n.opts.CheckpointPath)
			assert.True(t, os.IsNotExist(err), "a new node's start writes no checkpoint: %v", err)
			n.addOK(1)
			_, err = os.Stat(n.opts.CheckpointPath)
			require.NoError(t, err, "the first pod writes it")
			n.stop()

			require.NoError(t, os.Chtimes(n.opts.CheckpointPath, time.Time{}, labStart))
			n.start()
			fi, err := os.Stat(n.opts.CheckpointPath)
			require.NoError(t, err)
			assert.NotEqual(t, labStart, fi.ModTime(), "a restart writes back the checkpoint it read")
		})
	}
}

// Upstream's nodeInit reads the checkpoint (ReadAllDataStores) only after
// DescribeAllENIs and the ENIs' tagging and set-up: a corrupt checkpoint
// fails each start-up after those EC2 calls, so a crash-looping aws-node
// keeps spending them.
func TestCorruptCheckpointFailsAfterDescribingENIs(t *testing.T) {
	calls := &callCounter{}
	l := newTestLab(t, withInterceptor(calls))
	n := l.newNode(nodeSpec{Type: "m5.large"})
	require.NoError(t, os.WriteFile(n.opts.CheckpointPath, []byte("{trunc"), 0o644))
	_, err := n.tryStart()
	require.ErrorIs(t, err, datastore.ErrCorruptCheckpoint)
	assert.Equal(t, 1, calls.calls("DescribeNetworkInterfaces"), "DescribeAllENIs comes first")
	assert.Equal(t, 1, calls.calls("CreateTags"), "the primary ENI is tagged before the checkpoint is read")
	assert.Zero(t, calls.calls("AssignPrivateIpAddresses"), "the pool is never filled")
}
