package datastore

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Unix(1_700_000_000, 0)

func key(c string) Key { return Key{NetworkName: "aws-cni", ContainerID: c, IfName: "eth0"} }

func newStore(t *testing.T, cp Checkpointer) *Store {
	s := New(Options{Cooldown: 30 * time.Second, Checkpoint: cp})
	s.AddENI(ENI{ID: "eni-0", DeviceNumber: 0, Primary: true, AddedAt: t0})
	s.AddENI(ENI{ID: "eni-1", DeviceNumber: 1, AddedAt: t0})
	for _, ip := range []string{"10.0.0.10", "10.0.0.11"} {
		require.NoError(t, s.AddCIDR("eni-0", netip.PrefixFrom(netip.MustParseAddr(ip), 32), t0))
	}
	require.NoError(t, s.AddCIDR("eni-1", netip.MustParsePrefix("10.0.1.16/28"), t0))
	return s
}

func TestAssignIsIdempotentAndOrdered(t *testing.T) {
	s := newStore(t, nil)
	a, err := s.Assign(key("a"), Pod{Name: "a"}, t0)
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.10", a.IP.String(), "lowest device first")
	again, err := s.Assign(key("a"), Pod{Name: "a"}, t0)
	require.NoError(t, err)
	assert.Equal(t, a.IP, again.IP)
	assert.Equal(t, 1, s.Stats(t0).AssignedIPs)
	b, _ := s.Assign(key("b"), Pod{}, t0)
	assert.Equal(t, "10.0.0.11", b.IP.String())
	st := s.Stats(t0)
	assert.Equal(t, 2, st.TotalIPs)
	assert.Equal(t, 1, st.Prefixes)
	assert.Equal(t, 1, st.FreePrefixes)
}

// Upstream's AssignPodIPv4Address takes an address only from a CIDR whose
// IsPrefix matches isPDEnabled, and GetIPStats counts only those: after a
// mode switch, CIDRs of the old mode serve no new pod and leave the totals.
func TestAssignOnlyFromCurrentMode_UpstreamAssignPodIPv4Address(t *testing.T) {
	s := newStore(t, nil) // eni-0: two /32s, eni-1: one /28
	_, err := s.AssignIP(key("old"), Pod{}, netip.MustParseAddr("10.0.0.10"), t0)
	require.NoError(t, err)
	s.Assign(key("b"), Pod{}, t0)
	_, err = s.Assign(key("c"), Pod{}, t0)
	assert.ErrorIs(t, err, ErrNoAvailableIP, "secondary-IP mode: the /28 serves no pod")

	s.SetPrefixMode(true)
	c, err := s.Assign(key("c"), Pod{}, t0)
	require.NoError(t, err)
	assert.Equal(t, "10.0.1.16", c.IP.String(), "prefix mode: the /32 of device 0 is skipped")
	assert.Equal(t, netip.MustParsePrefix("10.0.1.16/28"), c.CIDR)
	st := s.Stats(t0)
	assert.Equal(t, 16, st.TotalIPs, "only /28s count in prefix mode")
	assert.Equal(t, 1, st.AssignedIPs, "pods on old-mode /32s are not counted")
	a, ok := s.Lookup(key("old"))
	require.True(t, ok, "a pod on an old-mode CIDR keeps its address")
	assert.Equal(t, netip.MustParsePrefix("10.0.0.10/32"), a.CIDR)
}

func TestReleaseCooldownAndUnknownPod(t *testing.T) {
	s := newStore(t, nil)
	a, _ := s.Assign(key("a"), Pod{}, t0)
	_, err := s.Release(key("a"), t0)
	require.NoError(t, err)
	_, err = s.Release(key("a"), t0)
	assert.True(t, errors.Is(err, ErrUnknownPod))
	assert.Contains(t, err.Error(), "datastore: unknown pod")
	b, _ := s.Assign(key("b"), Pod{}, t0.Add(10*time.Second))
	assert.NotEqual(t, a.IP, b.IP, "cooling address skipped")
	assert.Equal(t, 1, s.Stats(t0.Add(10*time.Second)).CoolingIPs)
	c, _ := s.Assign(key("c"), Pod{}, t0.Add(31*time.Second))
	assert.Equal(t, a.IP, c.IP, "reused after the cooldown")
	_, err = s.RemoveCIDR("eni-0", netip.PrefixFrom(b.IP, 32), false, t0)
	assert.True(t, errors.Is(err, ErrInUse))
}

func TestNoAvailableIP(t *testing.T) {
	s := New(Options{})
	s.AddENI(ENI{ID: "eni-0", Primary: true})
	_, err := s.Assign(key("a"), Pod{}, t0)
	assert.True(t, errors.Is(err, ErrNoAvailableIP))
	assert.Contains(t, err.Error(), "no available IP/Prefix addresses")
}

func TestFileCheckpointRoundTripAndCorruption(t *testing.T) {
	dir := t.TempDir()
	f := File{Path: filepath.Join(dir, "sub", "ipam.json")}
	s := newStore(t, f)
	_, err := s.Assign(key("a"), Pod{Name: "a", Namespace: "default"}, t0)
	require.NoError(t, err)
	cp, found, err := f.Load()
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, CheckpointVersion, cp.Version)
	require.Len(t, cp.Allocations, 1)
	assert.Equal(t, "10.0.0.10", cp.Allocations[0].IPv4)
	assert.Equal(t, "default", cp.Allocations[0].Metadata.K8SPodNamespace)
	entries, _ := os.ReadDir(filepath.Dir(f.Path))
	assert.Len(t, entries, 1, "no temporary files left behind")

	restored := newStore(t, nil)
	for _, e := range cp.Allocations {
		_, err := restored.AssignIP(e.Key, Pod{}, netip.MustParseAddr(e.IPv4), t0)
		require.NoError(t, err)
	}
	_, err = restored.AssignIP(key("other"), Pod{}, netip.MustParseAddr("10.0.0.10"), t0)
	assert.True(t, errors.Is(err, ErrDuplicateIP), "an address never gets two owners")

	b, _ := os.ReadFile(f.Path)
	require.NoError(t, os.WriteFile(f.Path, b[:len(b)/2], 0o644))
	_, _, err = f.Load()
	assert.True(t, errors.Is(err, ErrCorruptCheckpoint))
	_, found, err = File{Path: filepath.Join(dir, "missing.json")}.Load()
	assert.NoError(t, err)
	assert.False(t, found)
}

func TestFailedCheckpointUndoesAssign(t *testing.T) {
	m := &Memory{Err: errors.New("disk full")}
	s := newStore(t, m)
	_, err := s.Assign(key("a"), Pod{}, t0)
	require.Error(t, err)
	assert.Equal(t, 0, s.Stats(t0).AssignedIPs)
}

func TestRemoveENIForce(t *testing.T) {
	s := newStore(t, nil)
	s.Assign(key("a"), Pod{}, t0)
	_, err := s.RemoveENI("eni-0", false, t0)
	assert.True(t, errors.Is(err, ErrInUse))
	dropped, err := s.RemoveENI("eni-0", true, t0)
	require.NoError(t, err)
	assert.Len(t, dropped, 1)
	_, ok := s.Lookup(key("a"))
	assert.False(t, ok)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.1.16/28")}, s.FreeableCIDRs("eni-1", t0))
}

// Upstream FindFreeableCidrs and GetFreePrefixes (issue #12) look at
// assignment only: a prefix whose addresses cool down is free and may be
// given back to EC2; cooldown only stops its reuse for a pod.
func TestCoolingCIDRIsFreeable(t *testing.T) {
	s := newStore(t, nil)
	s.SetPrefixMode(true)
	prefix := netip.MustParsePrefix("10.0.1.16/28")
	c, err := s.Assign(key("c"), Pod{}, t0)
	require.NoError(t, err)
	require.True(t, prefix.Contains(c.IP))
	assert.Empty(t, s.FreeableCIDRs("eni-1", t0), "an assigned address keeps its prefix")
	_, err = s.RemoveCIDR("eni-1", prefix, false, t0)
	assert.True(t, errors.Is(err, ErrInUse))

	_, err = s.Release(key("c"), t0)
	require.NoError(t, err)
	now := t0.Add(time.Second)
	st := s.Stats(now)
	assert.Equal(t, 1, st.CoolingIPs)
	assert.Equal(t, 1, st.FreePrefixes, "a prefix holding only a cooling address is free")
	assert.Equal(t, []netip.Prefix{prefix}, s.FreeableCIDRs("eni-1", now))
	dropped, err := s.RemoveCIDR("eni-1", prefix, false, now)
	require.NoError(t, err)
	assert.Empty(t, dropped)
	assert.Equal(t, 0, s.Stats(now).TotalIPs)
}

// Upstream's DataStore.ReadBackingStore refuses a checkpoint of another
// version with "unexpected checkpointVersion: found/wanted"; enilab's Load
// says the same, and it is a corrupt checkpoint (start-up fails on it).
func TestCheckpointWrongVersionReadBackingStore(t *testing.T) {
	f := File{Path: filepath.Join(t.TempDir(), "ipam.json")}
	require.NoError(t, os.WriteFile(f.Path, []byte(`{"version":"vpc-cni-ipam/0","allocations":[]}`), 0o644))
	_, found, err := f.Load()
	assert.True(t, found)
	assert.ErrorIs(t, err, ErrCheckpointVersion)
	assert.ErrorIs(t, err, ErrCorruptCheckpoint)
	assert.Contains(t, err.Error(), "unexpected checkpointVersion: vpc-cni-ipam/0/vpc-cni-ipam/1")
}
