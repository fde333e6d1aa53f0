package datastore

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
)

// fill builds a store of enis ENIs holding perENI addresses (or /28s in
// prefix mode) and assigns pods of them, like a busy node.
func fill(b *testing.B, cp Checkpointer, enis, perENI int, prefixes bool, pods int) *Store {
	s := New(Options{Checkpoint: cp})
	s.SetPrefixMode(prefixes)
	base := netip.MustParseAddr("10.0.0.0")
	for e := 0; e < enis; e++ {
		id := fmt.Sprintf("eni-%d", e)
		s.AddENI(ENI{ID: id, DeviceNumber: e, Primary: e == 0, AddedAt: t0})
		for i := 0; i < perENI; i++ {
			bits := 32
			if prefixes {
				bits = 28
			}
			if err := s.AddCIDR(id, netip.PrefixFrom(base, bits), t0); err != nil {
				b.Fatal(err)
			}
			for j := 0; j < 1<<(32-bits); j++ {
				base = base.Next()
			}
		}
	}
	for i := 0; i < pods; i++ {
		if _, err := s.Assign(key(fmt.Sprintf("p%d", i)), Pod{Name: fmt.Sprint(i), Namespace: "default"}, t0); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func benchAssignRelease(b *testing.B, s *Store) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := key("bench")
		if _, err := s.Assign(k, Pod{Name: "bench", Namespace: "default"}, t0); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Release(k, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// 737 addresses (the largest secondary-IP pool: 15 ENIs × 49 + 2), 735 of
// them held by pods, so every assign walks nearly the whole pool.
func BenchmarkAssignRelease737(b *testing.B) {
	busy737 := func(b *testing.B, cp Checkpointer) *Store {
		s := fill(b, cp, 15, 49, false, 0)
		s.AddENI(ENI{ID: "eni-x", DeviceNumber: 15})
		s.AddCIDR("eni-x", netip.MustParsePrefix("10.9.0.1/32"), t0)
		s.AddCIDR("eni-x", netip.MustParsePrefix("10.9.0.2/32"), t0)
		for i := 0; i < 735; i++ {
			s.Assign(key(fmt.Sprintf("p%d", i)), Pod{}, t0)
		}
		return s
	}
	b.Run("memory-checkpoint", func(b *testing.B) {
		benchAssignRelease(b, busy737(b, &Memory{}))
	})
	b.Run("file-checkpoint", func(b *testing.B) {
		benchAssignRelease(b, busy737(b, File{Path: filepath.Join(b.TempDir(), "ipam.json")}))
	})
}

// 250 pods in prefix mode: 16 /28s on 2 ENIs, 250 of 256 addresses held.
func BenchmarkAssignReleasePrefix250(b *testing.B) {
	b.Run("memory-checkpoint", func(b *testing.B) {
		benchAssignRelease(b, fill(b, &Memory{}, 2, 8, true, 250))
	})
	b.Run("file-checkpoint", func(b *testing.B) {
		benchAssignRelease(b, fill(b, File{Path: filepath.Join(b.TempDir(), "ipam.json")}, 2, 8, true, 250))
	})
}
