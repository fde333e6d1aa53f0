package cniplugin

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/ipamd/rpc"
)

// ClientVersion is what the plugin reports to ipamd in every request; ipamd
// refuses any other (upstream's validateVersion), so it is the protocol's
// version, shared with the lab's ipamd.
const ClientVersion = rpc.Version

// backend is the part of ipamd the plugin talks to; a small interface so
// command logic can be exercised against a hand-written fake.
type backend interface {
	AddNetwork(ctx context.Context, in *rpc.AddNetworkRequest) (*rpc.AddNetworkReply, error)
	DelNetwork(ctx context.Context, in *rpc.DelNetworkRequest) (*rpc.DelNetworkReply, error)
	// Healthy is nil when ipamd answers its gRPC health service as SERVING
	// (or does not implement it but answers at all).
	Healthy(ctx context.Context) error
	Close() error
}

// grpcBackend is ipamd over its unix socket.
type grpcBackend struct {
	conn   *grpc.ClientConn
	client rpc.CNIBackendClient
}

// dialIPAMD prepares a client for the socket; nothing is sent until the
// first call, and a call to a dead socket fails at once (no wait-for-ready),
// so an unreachable ipamd costs milliseconds, not the timeout.
//
// The channel lives for one or two small calls in a process that exits
// after them, so it skips what only a long-lived channel uses: the idle
// timer, service configs and client-side health checks, flow-control
// probing (a static window: no BDP ping), and 32 KB buffers per direction.
// Together about 1.5 ms of a STATUS exec (docs/performance.md).
func dialIPAMD(socket string) (backend, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithIdleTimeout(0), grpc.WithDisableServiceConfig(), grpc.WithDisableHealthCheck(),
		grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16),
		grpc.WithReadBufferSize(4096), grpc.WithWriteBufferSize(4096))
	if err != nil {
		return nil, fmt.Errorf("ipamd client for %s: %w", socket, err)
	}
	return &grpcBackend{conn: conn, client: rpc.NewCNIBackendClient(conn)}, nil
}

func (b *grpcBackend) AddNetwork(ctx context.Context, in *rpc.AddNetworkRequest) (*rpc.AddNetworkReply, error) {
	return b.client.AddNetwork(ctx, in)
}

func (b *grpcBackend) DelNetwork(ctx context.Context, in *rpc.DelNetworkRequest) (*rpc.DelNetworkReply, error) {
	return b.client.DelNetwork(ctx, in)
}

func (b *grpcBackend) Healthy(ctx context.Context) error {
	resp, err := healthpb.NewHealthClient(b.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) == codes.Unimplemented {
		return nil // it answered: reachable, just without the health service
	}
	if err != nil {
		return err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health status %s", resp.GetStatus())
	}
	return nil
}

func (b *grpcBackend) Close() error { return b.conn.Close() }

// unreachable reports whether err means ipamd could not be talked to at all
// (as opposed to ipamd answering with an error).
func unreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// unknownPod reports whether ipamd's DelNetwork error means it holds no
// address for the pod — which DEL and GC treat as done. Upstream's del
// looks for the datastore's error text in the message, whatever the code.
func unknownPod(err error) bool {
	return err != nil && strings.Contains(err.Error(), errUnknownPod)
}

// errUnknownPod is the text of upstream's datastore.ErrUnknownPod.
const errUnknownPod = "datastore: unknown pod"

// delRequest asks ipamd to release the address of one attachment, keyed as
// ipamd keys it (network, container, ifname) and with the pod facts its
// logs and metrics name.
func delRequest(reason, network, containerID, ifName string, k K8sArgs) *rpc.DelNetworkRequest {
	return &rpc.DelNetworkRequest{
		K8S_POD_NAME: k.PodName, K8S_POD_NAMESPACE: k.PodNamespace, K8S_POD_INFRA_CONTAINER_ID: k.InfraContainerID,
		K8S_POD_UID: k.PodUID, Reason: reason, IfName: ifName, NetworkName: network, ContainerID: containerID,
		ClientVersion: ClientVersion,
	}
}

// allocation is the first IPv4 allocation of a reply.
type allocation struct {
	IP           netip.Addr
	DeviceNumber int
	// Table is the route table of the ENI holding IP as upstream's
	// SetupPodNetwork takes it: RouteTableId when above 1, main otherwise.
	Table int
}

func firstIPv4(meta []*rpc.IPAllocationMetadata) (allocation, error) {
	for _, m := range meta {
		if m.GetIPv4Addr() == "" {
			continue
		}
		ip, err := netip.ParseAddr(m.GetIPv4Addr())
		if err != nil || !ip.Is4() {
			return allocation{}, fmt.Errorf("ipamd returned %q, which is not an IPv4 address", m.GetIPv4Addr())
		}
		a := allocation{IP: ip, DeviceNumber: int(m.GetDeviceNumber()), Table: datapath.MainTable}
		if m.GetRouteTableId() > 1 {
			a.Table = int(m.GetRouteTableId())
		}
		return a, nil
	}
	return allocation{}, errors.New("ipamd returned no IPv4 address")
}
