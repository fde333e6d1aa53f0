package cniplugin

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/enilab/enilab/cniplugin/ipamdclient"
	"github.com/enilab/enilab/internal/datapath"
)

// ClientVersion is what the plugin reports to ipamd in every request; ipamd
// refuses any other (upstream's validateVersion), so it is the protocol's
// version, shared with the lab's ipamd (ipamd/ipamdclient.Version).
const ClientVersion = ipamdclient.Version

// backend is the part of ipamd the plugin talks to; a small interface so
// command logic can be exercised against a hand-written fake.
type backend interface {
	AddNetwork(ctx context.Context, in *ipamdclient.AddNetworkRequest) (*ipamdclient.AddNetworkReply, error)
	DelNetwork(ctx context.Context, in *ipamdclient.DelNetworkRequest) (*ipamdclient.DelNetworkReply, error)
	// Healthy is nil when ipamd answers its gRPC health service as SERVING
	// (or does not implement it but answers at all).
	Healthy(ctx context.Context) error
	Close() error
}

// grpcBackend is ipamd over its unix socket, through the plugin's own small
// gRPC client (no gRPC library in the plugin binary).
type grpcBackend struct{ *ipamdclient.Client }

// dialIPAMD prepares a client for the socket; nothing is sent until the
// first call, and a call to a dead socket fails at once (no wait-for-ready),
// so an unreachable ipamd costs microseconds, not the timeout.
func dialIPAMD(socket string) (backend, error) {
	return grpcBackend{ipamdclient.New(socket)}, nil
}

func (b grpcBackend) Healthy(ctx context.Context) error {
	st, err := b.Health(ctx)
	if ipamdclient.CodeOf(err) == ipamdclient.Unimplemented {
		return nil // it answered: reachable, just without the health service
	}
	if err != nil {
		return err
	}
	if st != ipamdclient.Serving {
		return fmt.Errorf("health status %s", st)
	}
	return nil
}

// unreachable reports whether err means ipamd could not be talked to at all
// (as opposed to ipamd answering with an error).
func unreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	switch ipamdclient.CodeOf(err) {
	case ipamdclient.Unavailable, ipamdclient.DeadlineExceeded, ipamdclient.Canceled:
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
func delRequest(reason, network, containerID, ifName string, k K8sArgs) *ipamdclient.DelNetworkRequest {
	return &ipamdclient.DelNetworkRequest{
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

func firstIPv4(meta []*ipamdclient.IPAllocationMetadata) (allocation, error) {
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
