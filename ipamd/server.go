package ipamd

import (
	"context"
	"errors"
	"net/netip"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/ipamd/datastore"
	"github.com/enilab/enilab/ipamd/rpc"
)

// backend serves the CNIBackend protocol to the CNI plugin.
type backend struct {
	rpc.UnimplementedCNIBackendServer
	d *Daemon
}

func keyOf(networkName, containerID, infraID, ifName string) datastore.Key {
	if containerID == "" {
		containerID = infraID
	}
	return datastore.Key{NetworkName: networkName, ContainerID: containerID, IfName: ifName}
}

// routeTable is the table a pod on the given device routes through: the
// ENI's own table (device+1) for secondary ENIs, 0 (main) for the primary.
func routeTable(device int) int32 {
	if device == 0 {
		return 0
	}
	return int32(device + 1)
}

// AddNetwork assigns the pod an address. An empty pool is Success=false
// (the plugin reports "try again later"), not a transport error.
func (b *backend) AddNetwork(ctx context.Context, in *rpc.AddNetworkRequest) (*rpc.AddNetworkReply, error) {
	d := b.d
	d.metrics.addIPReq.Inc()
	k := keyOf(in.NetworkName, in.ContainerID, in.K8S_POD_INFRA_CONTAINER_ID, in.IfName)
	if k.ContainerID == "" || k.IfName == "" {
		return nil, status.Errorf(codes.InvalidArgument, "AddNetwork: ContainerID and IfName are required (got %q, %q)", k.ContainerID, k.IfName)
	}
	pod := datastore.Pod{Name: in.K8S_POD_NAME, Namespace: in.K8S_POD_NAMESPACE, Netns: in.Netns}
	a, err := d.store.Assign(k, pod, d.clock.Now())
	if err != nil {
		if errors.Is(err, datastore.ErrNoAvailableIP) {
			d.metrics.noAvailableIP.Inc()
			st := d.store.Stats(d.clock.Now())
			d.log.Error("AssignIPv4Address: no available IP/Prefix addresses", "pod", in.K8S_POD_NAMESPACE+"/"+in.K8S_POD_NAME,
				"total", st.TotalIPs, "assigned", st.AssignedIPs, "cooldown", st.CoolingIPs)
		} else {
			d.metrics.ipamdError("AddNetwork")
			d.log.Error("AddNetwork failed", "pod", in.K8S_POD_NAMESPACE+"/"+in.K8S_POD_NAME, "err", err)
		}
		return &rpc.AddNetworkReply{Success: false}, nil
	}
	d.updateStoreGauges()
	d.log.Info("Send AddNetworkReply", "IPv4Addr", a.IP, "DeviceNumber", a.DeviceNumber, "pod", in.K8S_POD_NAMESPACE+"/"+in.K8S_POD_NAME, "key", k)
	return &rpc.AddNetworkReply{
		Success: true,
		IPAllocationMetadata: []*rpc.IPAllocationMetadata{{
			IPv4Addr: a.IP.String(), DeviceNumber: int32(a.DeviceNumber), RouteTableId: routeTable(a.DeviceNumber),
		}},
		UseExternalSNAT: d.cfg.ExternalSNAT,
		VPCv4CIDRs:      prefixStrings(d.vpcCIDRs),
	}, nil
}

// DelNetwork releases the pod's address. An unknown pod is a NotFound
// status whose message carries upstream's "datastore: unknown pod", which
// the plugin treats as success.
func (b *backend) DelNetwork(ctx context.Context, in *rpc.DelNetworkRequest) (*rpc.DelNetworkReply, error) {
	d := b.d
	d.metrics.delIPReq.WithLabelValues(in.Reason).Inc()
	k := keyOf(in.NetworkName, in.ContainerID, in.K8S_POD_INFRA_CONTAINER_ID, in.IfName)
	a, err := d.store.Release(k, d.clock.Now())
	if errors.Is(err, datastore.ErrUnknownPod) && in.K8S_POD_NAME != "" {
		// An assignment rebuilt from the host's routes after the
		// checkpoint was lost is known by the pod's host veth only.
		veth := datapath.HostVethName(d.cfg.VethPrefix, in.K8S_POD_NAMESPACE, in.K8S_POD_NAME)
		if ra, rerr := d.store.Release(recoveredKey(veth), d.clock.Now()); rerr == nil {
			a, err = ra, nil
		}
	}
	if errors.Is(err, datastore.ErrUnknownPod) {
		d.log.Info("DelNetwork: unknown pod", "key", k, "pod", in.K8S_POD_NAMESPACE+"/"+in.K8S_POD_NAME)
		return nil, status.Error(codes.NotFound, datastore.ErrUnknownPod.Error())
	}
	if err != nil {
		d.metrics.ipamdError("DelNetwork")
		return nil, status.Errorf(codes.Internal, "DelNetwork: %v", err)
	}
	d.pm.freeOtherModeOnRelease(ctx, a)
	d.updateStoreGauges()
	d.log.Info("Send DelNetworkReply", "IPv4Addr", a.IP, "DeviceNumber", a.DeviceNumber, "reason", in.Reason, "key", k)
	return &rpc.DelNetworkReply{
		Success: true,
		IPAllocationMetadata: []*rpc.IPAllocationMetadata{{
			IPv4Addr: a.IP.String(), DeviceNumber: int32(a.DeviceNumber), RouteTableId: routeTable(a.DeviceNumber),
		}},
	}, nil
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}
