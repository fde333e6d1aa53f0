package nsutil

import (
	"fmt"
	"os"
	"testing"
)

// BenchmarkNewPodNamespace is what a pod's sandbox costs before any CNI
// work: a new named network namespace (the kernel's per-namespace set-up
// and the bind mount) with lo up. It is part of the lab's pod-ready time
// and of no plugin's.
func BenchmarkNewPodNamespace(b *testing.B) {
	if !IsRoot() {
		b.Skip("needs root to create network namespaces")
	}
	b.ResetTimer()
	b.StopTimer()
	for i := range b.N {
		name := fmt.Sprintf("enlt-nsbench-%d-%d", os.Getpid(), i)
		b.StartTimer()
		p, err := NewNamed(name)
		if err != nil {
			b.Fatal(err)
		}
		h, err := Handle(p)
		if err != nil {
			b.Fatal(err)
		}
		lo, err := h.LinkByName("lo")
		if err == nil {
			err = h.LinkSetUp(lo)
		}
		h.Close()
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if err := DeleteNamed(name); err != nil {
			b.Fatal(err)
		}
	}
}
