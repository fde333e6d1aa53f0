package cniplugin

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/enilab/enilab/ipamd/rpc"
)

// fakeIPAMD is a hand-written CNIBackend: a fixed pool per ENI device,
// keyed assignments, and a log of release reasons — enough to prove what
// the plugin asks for and gives back.
type fakeIPAMD struct {
	rpc.UnimplementedCNIBackendServer

	mu       sync.Mutex
	free     map[int][]netip.Addr // device → free addresses
	assigned map[string]fakeAssignment
	device   int // device ADD allocates from
	reasons  []string
	srv      *grpc.Server
	socket   string
	// branch, when set, answers every ADD as for a pod with a branch ENI
	// (PodVlanId, PodENIMAC, PodENISubnetGW, ParentIfIndex).
	branch *rpc.AddNetworkReply
}

type fakeAssignment struct {
	ip     netip.Addr
	device int
}

// newFakeIPAMD serves on socket until the test ends (or stop).
func newFakeIPAMD(t testing.TB, socket string, pools map[int][]netip.Addr) *fakeIPAMD {
	t.Helper()
	f := &fakeIPAMD{free: pools, assigned: map[string]fakeAssignment{}, socket: socket}
	for d := range pools {
		if d > f.device {
			f.device = d // secondary ENI first, so the 1536 rule is exercised
		}
	}
	f.start(t)
	t.Cleanup(f.stop)
	return f
}

func (f *fakeIPAMD) start(t testing.TB) {
	ln, err := net.Listen("unix", f.socket)
	require.NoError(t, err)
	srv := grpc.NewServer()
	rpc.RegisterCNIBackendServer(srv, f)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (f *fakeIPAMD) stop() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

func (f *fakeIPAMD) setDevice(d int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.device = d
}

func key(network, cid, ifName string) string { return network + "/" + cid + "/" + ifName }

func (f *fakeIPAMD) AddNetwork(_ context.Context, in *rpc.AddNetworkRequest) (*rpc.AddNetworkReply, error) {
	if in.ClientVersion != rpc.Version {
		return nil, status.Errorf(codes.FailedPrecondition, "wrong client version %q (!= %q)", in.ClientVersion, rpc.Version)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := key(in.NetworkName, in.ContainerID, in.IfName)
	a, ok := f.assigned[k]
	if !ok {
		pool := f.free[f.device]
		if len(pool) == 0 {
			return &rpc.AddNetworkReply{Success: false}, nil
		}
		a = fakeAssignment{ip: pool[0], device: f.device}
		f.free[f.device] = pool[1:]
		f.assigned[k] = a
	}
	reply := &rpc.AddNetworkReply{Success: true, IPAllocationMetadata: []*rpc.IPAllocationMetadata{allocMeta(a)}, VPCv4CIDRs: []string{"10.0.0.0/16"}}
	if b := f.branch; b != nil {
		reply.PodVlanId, reply.PodENIMAC, reply.PodENISubnetGW, reply.ParentIfIndex = b.PodVlanId, b.PodENIMAC, b.PodENISubnetGW, b.ParentIfIndex
	}
	return reply, nil
}

func (f *fakeIPAMD) DelNetwork(_ context.Context, in *rpc.DelNetworkRequest) (*rpc.DelNetworkReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reasons = append(f.reasons, in.Reason)
	k := key(in.NetworkName, in.ContainerID, in.IfName)
	a, ok := f.assigned[k]
	if !ok {
		// upstream DelNetwork's answer: a go-multierror, gRPC code Unknown
		return nil, errors.New("1 error occurred:\n\t* datastore: unknown pod\n\n")
	}
	delete(f.assigned, k)
	f.free[a.device] = append(f.free[a.device], a.ip)
	return &rpc.DelNetworkReply{Success: true, IPAllocationMetadata: []*rpc.IPAllocationMetadata{allocMeta(a)}}, nil
}

// forget drops every assignment, as an ipamd that lost its state.
func (f *fakeIPAMD) forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.assigned = map[string]fakeAssignment{}
}

func (f *fakeIPAMD) assignedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.assigned)
}

func (f *fakeIPAMD) lastReason() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reasons) == 0 {
		return ""
	}
	return f.reasons[len(f.reasons)-1]
}

// addrRange is n consecutive addresses from first.
func addrRange(first string, n int) []netip.Addr {
	a := netip.MustParseAddr(first)
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = a
		a = a.Next()
	}
	return out
}
