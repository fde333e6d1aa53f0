package scenario

import (
	"os/exec"
	"strings"
	"testing"
)

// TestParserLinksNoKernelOrRPC keeps `enilab validate` and the parser free of
// the kernel-facing and RPC packages: scenario reads ipamd's configuration,
// the datapath contract and fakeec2's action list through packages that
// import neither.
func TestParserLinksNoKernelOrRPC(t *testing.T) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH: cannot list the package's dependencies")
	}
	out, err := exec.Command(gotool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/vishvananda/netlink", "google.golang.org/grpc"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("scenario depends on %s", dep)
			}
		}
	}
}
