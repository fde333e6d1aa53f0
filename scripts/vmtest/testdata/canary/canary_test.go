// Package canary is the VM runner's end-to-end check: its tests pass, and
// one of them fails on purpose when ENILAB_VMTEST_FAIL=1, so
// scripts/vmtest/e2e-check.sh can prove a failure inside the VM makes the
// runner exit non-zero. It lives under testdata so `go test ./...` skips it.
package canary

import (
	"os"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/internal/nsutil"
)

// TestDummyLinkInNamespace is what the VM promises: root, a kernel that
// makes dummy links (the ENI stand-in this machine's kernel lacks), and
// named namespaces under /run/netns.
func TestDummyLinkInNamespace(t *testing.T) {
	if os.Getenv("ENILAB_VM") != "1" {
		t.Skip("runs inside the vm-test VM only")
	}
	if acc := os.Getenv("ENILAB_VM_ACCEL"); acc != "kvm" && acc != "tcg" {
		t.Errorf("ENILAB_VM_ACCEL = %q, want kvm or tcg", acc)
	}
	p, err := nsutil.NewNamed("vmcanary")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nsutil.DeleteNamed("vmcanary") })
	h, err := nsutil.Handle(p)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "eni1"}}); err != nil {
		t.Fatalf("adding a dummy link: %v", err)
	}
	l, err := h.LinkByName("eni1")
	if err != nil {
		t.Fatal(err)
	}
	if l.Type() != "dummy" {
		t.Errorf("link type %q, want dummy", l.Type())
	}
}

func TestDeliberateFailure(t *testing.T) {
	if os.Getenv("ENILAB_VMTEST_FAIL") == "1" {
		t.Fatal("deliberate failure (ENILAB_VMTEST_FAIL=1)")
	}
}

func TestSkipsWithReason(t *testing.T) {
	t.Skip("skips on purpose, to show a skip reason in JUnit")
}
