package datastore

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var v6t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newV6(t *testing.T, cp Checkpointer) *V6Pool {
	p := NewV6(Options{Cooldown: 30 * time.Second, Checkpoint: cp})
	require.NoError(t, p.SetPrefix(ENI{ID: "eni-1", Primary: true}, netip.MustParsePrefix("2600:1f14:aa:1b00:7c3e::/80"), v6t0))
	return p
}

// Upstream's getUnusedIP: a never-used address from the prefix's start,
// then, once its cooldown is over, a released address before a new one.
func TestV6PoolAssignsAsUpstreamGetUnusedIP(t *testing.T) {
	p := newV6(t, nil)
	k := func(s string) Key { return Key{NetworkName: "aws-cni", ContainerID: s, IfName: "eth0"} }
	a, err := p.Assign(k("a"), Pod{}, v6t0)
	require.NoError(t, err)
	assert.Equal(t, "2600:1f14:aa:1b00:7c3e::", a.IP.String())
	b, err := p.Assign(k("b"), Pod{}, v6t0)
	require.NoError(t, err)
	assert.Equal(t, "2600:1f14:aa:1b00:7c3e::1", b.IP.String())
	again, err := p.Assign(k("a"), Pod{}, v6t0)
	require.NoError(t, err)
	assert.Equal(t, a.IP, again.IP, "a repeated ADD keeps its address")

	_, err = p.Release(k("a"), v6t0)
	require.NoError(t, err)
	c, err := p.Assign(k("c"), Pod{}, v6t0.Add(10*time.Second))
	require.NoError(t, err)
	assert.Equal(t, "2600:1f14:aa:1b00:7c3e::2", c.IP.String(), "the released address is cooling down")
	d, err := p.Assign(k("d"), Pod{}, v6t0.Add(31*time.Second))
	require.NoError(t, err)
	assert.Equal(t, a.IP, d.IP, "after its cooldown the released address comes first")

	_, err = p.Release(k("zzz"), v6t0)
	assert.ErrorIs(t, err, ErrUnknownPod)
	assert.Equal(t, 3, p.Assigned())
}

// The checkpoint in IPv6 mode has upstream's "ipv6" entries, which Decode
// accepts; an entry with neither family is corrupt.
func TestV6CheckpointRoundTrip(t *testing.T) {
	mem := &Memory{}
	p := newV6(t, mem)
	_, err := p.Assign(Key{NetworkName: "aws-cni", ContainerID: "a", IfName: "eth0"}, Pod{Name: "a", Namespace: "default"}, v6t0)
	require.NoError(t, err)
	require.Len(t, mem.CP.Allocations, 1)
	assert.Equal(t, "2600:1f14:aa:1b00:7c3e::", mem.CP.Allocations[0].IPv6)
	assert.Empty(t, mem.CP.Allocations[0].IPv4)

	_, err = Decode([]byte(`{"version":"vpc-cni-ipam/1","allocations":[{"networkName":"aws-cni","containerID":"a","ifName":"eth0","ipv6":"2600:1f14:aa:1b00:7c3e::"}]}`))
	require.NoError(t, err)
	_, err = Decode([]byte(`{"version":"vpc-cni-ipam/1","allocations":[{"networkName":"aws-cni","containerID":"a","ifName":"eth0"}]}`))
	assert.ErrorIs(t, err, ErrCorruptCheckpoint)
	_, err = Decode([]byte(`{"version":"vpc-cni-ipam/1","allocations":[{"networkName":"aws-cni","containerID":"a","ifName":"eth0","ipv6":"10.0.0.1"}]}`))
	assert.ErrorIs(t, err, ErrCorruptCheckpoint)
}
