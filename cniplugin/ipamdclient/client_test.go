package ipamdclient

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/enilab/enilab/ipamd/rpc"
)

// backend is a grpc-go CNIBackend that records what it got and answers
// what the test set.
type backend struct {
	rpc.UnimplementedCNIBackendServer
	gotAdd   *rpc.AddNetworkRequest
	gotDel   *rpc.DelNetworkRequest
	addReply *rpc.AddNetworkReply
	delReply *rpc.DelNetworkReply
	err      error
	block    chan struct{}
}

func (b *backend) AddNetwork(ctx context.Context, in *rpc.AddNetworkRequest) (*rpc.AddNetworkReply, error) {
	b.gotAdd = proto.Clone(in).(*rpc.AddNetworkRequest)
	if b.block != nil {
		select {
		case <-b.block:
		case <-ctx.Done():
		}
	}
	return b.addReply, b.err
}

func (b *backend) DelNetwork(_ context.Context, in *rpc.DelNetworkRequest) (*rpc.DelNetworkReply, error) {
	b.gotDel = proto.Clone(in).(*rpc.DelNetworkRequest)
	return b.delReply, b.err
}

// serve runs a grpc-go server (with the health service unless noHealth)
// on a socket in a temp dir and returns its path.
func serve(t *testing.T, b *backend, hs *health.Server) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "ipamd.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := grpc.NewServer()
	rpc.RegisterCNIBackendServer(srv, b)
	if hs != nil {
		healthpb.RegisterHealthServer(srv, hs)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return sock
}

func TestProtocolConstantsMatchGenerated(t *testing.T) {
	assert.Equal(t, rpc.Version, Version)
	assert.Equal(t, rpc.CNIBackend_AddNetwork_FullMethodName, MethodAddNetwork)
	assert.Equal(t, rpc.CNIBackend_DelNetwork_FullMethodName, MethodDelNetwork)
	assert.Equal(t, healthpb.Health_Check_FullMethodName, MethodHealthCheck)
}

// TestAddNetworkRoundTrip: every request field arrives as grpc-go decodes
// it, and every reply field the plugin reads comes back (unknown fields of
// the reply are skipped).
func TestAddNetworkRoundTrip(t *testing.T) {
	b := &backend{addReply: &rpc.AddNetworkReply{Success: true, UseExternalSNAT: true, VPCv4CIDRs: []string{"10.0.0.0/16"},
		IPAllocationMetadata: []*rpc.IPAllocationMetadata{{IPv4Addr: "10.0.1.21", DeviceNumber: 1, RouteTableId: 2}, {IPv6Addr: "fd00::1"}},
		PodENIMAC:            "02:00:00:00:00:01", NetworkPolicyMode: "standard"}}
	c := New(serve(t, b, nil))
	in := &AddNetworkRequest{K8S_POD_NAME: "p", K8S_POD_NAMESPACE: "ns", K8S_POD_INFRA_CONTAINER_ID: "infra", Netns: "/run/netns/x",
		IfName: "eth0", NetworkName: "aws-cni", ContainerID: strings.Repeat("c", 300), ClientVersion: Version, RequiresMultiNICAttachment: true}
	out, err := c.AddNetwork(t.Context(), in)
	require.NoError(t, err)
	assert.True(t, proto.Equal(&rpc.AddNetworkRequest{K8S_POD_NAME: "p", K8S_POD_NAMESPACE: "ns", K8S_POD_INFRA_CONTAINER_ID: "infra",
		Netns: "/run/netns/x", IfName: "eth0", NetworkName: "aws-cni", ContainerID: strings.Repeat("c", 300), ClientVersion: Version,
		RequiresMultiNICAttachment: true}, b.gotAdd), "server got %v", b.gotAdd)
	assert.True(t, out.GetSuccess())
	require.Len(t, out.GetIPAllocationMetadata(), 2)
	assert.Equal(t, IPAllocationMetadata{IPv4Addr: "10.0.1.21", DeviceNumber: 1, RouteTableId: 2}, *out.IPAllocationMetadata[0])
	assert.Equal(t, "fd00::1", out.IPAllocationMetadata[1].IPv6Addr)
}

func TestDelNetworkRoundTrip(t *testing.T) {
	b := &backend{delReply: &rpc.DelNetworkReply{Success: true, IPAllocationMetadata: []*rpc.IPAllocationMetadata{{IPv4Addr: "10.0.1.11"}}, PodVlanId: 3}}
	c := New(serve(t, b, nil))
	out, err := c.DelNetwork(t.Context(), &DelNetworkRequest{K8S_POD_NAME: "p", K8S_POD_NAMESPACE: "ns", K8S_POD_INFRA_CONTAINER_ID: "i",
		Reason: "PodDeleted", IfName: "eth0", NetworkName: "n", ContainerID: "c", ClientVersion: Version, K8S_POD_UID: "uid"})
	require.NoError(t, err)
	assert.True(t, proto.Equal(&rpc.DelNetworkRequest{K8S_POD_NAME: "p", K8S_POD_NAMESPACE: "ns", K8S_POD_INFRA_CONTAINER_ID: "i",
		Reason: "PodDeleted", IfName: "eth0", NetworkName: "n", ContainerID: "c", ClientVersion: Version, K8S_POD_UID: "uid"}, b.gotDel))
	assert.True(t, out.GetSuccess())
	assert.Equal(t, "10.0.1.11", out.GetIPAllocationMetadata()[0].GetIPv4Addr())
}

// TestErrorStatusReadsAsGRPC: an error of the server keeps its code, and
// its text reads as grpc-go's, so the plugin's messages (and its check for
// upstream's "datastore: unknown pod") are unchanged.
func TestErrorStatusReadsAsGRPC(t *testing.T) {
	b := &backend{err: status.Error(codes.Unknown, "datastore: unknown pod 100% gone")}
	c := New(serve(t, b, nil))
	_, err := c.DelNetwork(t.Context(), &DelNetworkRequest{ContainerID: "c"})
	require.Error(t, err)
	assert.Equal(t, status.Error(codes.Unknown, "datastore: unknown pod 100% gone").Error(), err.Error())
	assert.Equal(t, Unknown, CodeOf(err))
}

func TestDeadSocketIsUnavailableAtOnce(t *testing.T) {
	c := New(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.AddNetwork(t.Context(), &AddNetworkRequest{})
	assert.Equal(t, Unavailable, CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "none.sock")
}

func TestDeadlineIsDeadlineExceeded(t *testing.T) {
	b := &backend{block: make(chan struct{}), addReply: &rpc.AddNetworkReply{}}
	defer close(b.block)
	c := New(serve(t, b, nil))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.AddNetwork(ctx, &AddNetworkRequest{})
	assert.Equal(t, DeadlineExceeded, CodeOf(err), "%v", err)
	assert.Equal(t, "rpc error: code = DeadlineExceeded desc = context deadline exceeded", err.Error())
}

func TestHealth(t *testing.T) {
	hs := health.NewServer()
	c := New(serve(t, &backend{}, hs))
	st, err := c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, Serving, st)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	st, err = c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "NOT_SERVING", st.String())

	_, err = New(serve(t, &backend{}, nil)).Health(t.Context())
	assert.Equal(t, Unimplemented, CodeOf(err), "%v", err)
}

func TestTimeoutHeader(t *testing.T) {
	assert.Equal(t, "1500m", timeout(1500*time.Millisecond))
	assert.Equal(t, "1m", timeout(time.Microsecond))
	assert.Equal(t, "1n", timeout(-time.Second))
	assert.Equal(t, "100000S", timeout(100000*time.Second))
}

func FuzzReplyDecode(f *testing.F) {
	good, _ := proto.Marshal(&rpc.AddNetworkReply{Success: true, IPAllocationMetadata: []*rpc.IPAllocationMetadata{{IPv4Addr: "10.0.0.1", DeviceNumber: 2}}})
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		var r AddNetworkReply
		if r.unmarshal(data) != nil {
			return
		}
		var want rpc.AddNetworkReply
		if proto.Unmarshal(data, &want) == nil && r.Success != want.Success {
			t.Fatalf("success %v, protobuf says %v", r.Success, want.Success)
		}
	})
}
