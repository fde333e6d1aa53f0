package fakeec2

import (
	"math/rand/v2"
	"testing"
)

// nextFree must agree with a plain scan for every start, size and fill.
func TestNextFreeMatchesLinearScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []uint32{16, 64, 80, 256, 1024} {
		for range 50 {
			a, b := newBitset(size), newBitset(size)
			for i := size; i < uint32(len(a))*64; i++ {
				a.set(i)
			}
			fill := r.Float64()
			for i := uint32(0); i < size; i++ {
				if r.Float64() < fill {
					if r.IntN(2) == 0 {
						a.set(i)
					} else {
						b.set(i)
					}
				}
			}
			for start := uint32(0); start < size; start++ {
				want, wantOK := uint32(0), false
				for k := uint32(0); k < size; k++ {
					off := (start + k) % size
					if !a.has(off) && !b.has(off) {
						want, wantOK = off, true
						break
					}
				}
				got, ok := nextFree(size, start, a, b)
				if ok != wantOK || (ok && got != want) {
					t.Fatalf("size %d start %d: got %d,%v want %d,%v", size, start, got, ok, want, wantOK)
				}
			}
		}
	}
}
