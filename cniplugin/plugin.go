// Package cniplugin is the routed-ENI CNI plugin of the Amazon VPC CNI as a
// library: ADD asks ipamd (over its gRPC unix socket) for an address and
// wires the pod the way upstream does — a veth whose host end lives in the
// node namespace with no address, the pod's /32 behind the link-local
// gateway 169.254.1.1 with a static neighbour entry, a host /32 route and
// the policy rules that keep a secondary-ENI pod's traffic on its own ENI.
// Its ADD result has upstream's layout, so CHECK and DEL read results the
// upstream plugin made. DEL, CHECK, STATUS and
// GC complete the CNI 1.1 surface. Main is the whole binary.
//
// Test hook: when the environment variable ENILAB_CNI_TEST_FAIL is set, ADD
// fails on purpose after ipamd assigned the address, at the stage it names
// (assign, veth, pod, host — any other value means host, the last one), so
// tests can prove that nothing is left behind; "panic:<stage>" panics there
// instead, for the same proof on the panic path. It is never set in normal
// use.
package cniplugin

import (
	"fmt"
	"slices"
	"strings"
)

// Error codes beyond the spec's well-known ones (0-99 are the spec's).
const (
	// ErrCheckFailed: CHECK found the pod's networking differs from what
	// ADD built; the message lists every item.
	ErrCheckFailed uint = 100
	// ErrSetupFailed: ADD got an address but could not wire the pod; the
	// address was released and everything built was removed.
	ErrSetupFailed uint = 101
)

// Release reasons sent to ipamd in DelNetworkRequest.Reason.
const (
	ReasonSetupFailed = "SetupNSFailed"
	ReasonPodDeleted  = "PodDeleted"
	ReasonGC          = "GarbageCollected"
)

// TestFailEnv names the test hook described in the package doc.
const TestFailEnv = "ENILAB_CNI_TEST_FAIL"

// plugin holds what commands depend on, so unit tests can swap ipamd and
// the environment.
type plugin struct {
	dial   func(socket string) (backend, error)
	getenv func(string) string
}

func (p *plugin) hook(stage string) error {
	want := p.getenv(TestFailEnv)
	if want == "" {
		return nil
	}
	want, panics := strings.CutPrefix(want, "panic:")
	if !slices.Contains([]string{"assign", "veth", "pod", "host"}, want) {
		want = "host"
	}
	if want != stage {
		return nil
	}
	if panics {
		panic(fmt.Sprintf("injected panic at stage %q (%s is set)", stage, TestFailEnv))
	}
	return fmt.Errorf("injected failure at stage %q (%s is set)", stage, TestFailEnv)
}

func podRef(k K8sArgs) string { return k.PodNamespace + "/" + k.PodName }
