package fakeec2

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// bitset is a fixed-size set of subnet offsets; one bit per address keeps a
// /16 subnet at 8 KiB and lets allocation skip 64 busy addresses at a time.
type bitset []uint64

func newBitset(n uint32) bitset { return make(bitset, (n+63)/64) }

func (b bitset) has(i uint32) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) set(i uint32)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) clear(i uint32)    { b[i/64] &^= 1 << (i % 64) }

// block16 returns the 16 bits of the /28-aligned block starting at off.
func (b bitset) block16(off uint32) uint64 { return (b[off/64] >> (off % 64)) & 0xffff }

// nextFree returns the first offset at or after start (wrapping) whose bit is
// clear in every given set, scanning 64 offsets per step.
func nextFree(size, start uint32, sets ...bitset) (uint32, bool) {
	words := uint32(len(sets[0]))
	if words == 0 {
		return 0, false
	}
	w0 := start / 64
	for i := uint32(0); i <= words; i++ {
		w := (w0 + i) % words
		var busy uint64
		for _, s := range sets {
			busy |= s[w]
		}
		if i == 0 {
			busy |= (1 << (start % 64)) - 1 // offsets before start come last, on the wrap
		}
		if i == words {
			busy = 0
			for _, s := range sets {
				busy |= s[w]
			}
			busy |= ^((1 << (start % 64)) - 1)
			if start%64 == 0 {
				return 0, false
			}
		}
		if busy != ^uint64(0) {
			off := w*64 + uint32(bits.TrailingZeros64(^busy))
			if off < size {
				return off, true
			}
		}
	}
	return 0, false
}

func addrToU32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func u32ToAddr(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
