package ipamd

import (
	"context"
	"errors"
	"fmt"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/ipamd/datastore"
	"github.com/enilab/enilab/ipamd/rpc"
)

// addNetworkV6 is upstream's AddNetwork in IPv6 mode: a /128 of the /80
// (AssignPodIPv6Address), answered in IPv6Addr with the VPC's IPv6 CIDRs
// in VPCv6CIDRs; no SNAT exclusions (pods' IPv4 egress is the egress
// plugin's).
func (b *backend) addNetworkV6(ctx context.Context, k datastore.Key, pod datastore.Pod) (*rpc.AddNetworkReply, error) {
	d := b.d
	failure := &rpc.AddNetworkReply{Success: false}
	a, err := d.v6.Assign(k, pod, d.clock.Now())
	if err != nil {
		if errors.Is(err, datastore.ErrNoAvailableIP) {
			d.metrics.noAvailableIP.Inc()
			d.log.Error("DataStore has no available IP/Prefix addresses")
		} else {
			d.metrics.ipamdError("AddNetwork")
		}
		d.log.Error(fmt.Sprintf("Returning failure response for AddNetwork: [%v]", err), "pod", pod.Namespace+"/"+pod.Name)
		return failure, nil
	}
	cidrs, err := d.vpcIPv6CIDRs(ctx)
	if err != nil {
		return failure, err
	}
	d.log.Info("Send AddNetworkReply", "IPv6Addr", a.IP, "DeviceNumber", a.DeviceNumber, "pod", pod.Namespace+"/"+pod.Name, "key", k)
	return &rpc.AddNetworkReply{
		Success: true,
		IPAllocationMetadata: []*rpc.IPAllocationMetadata{{
			IPv6Addr: a.IP.String(), DeviceNumber: int32(a.DeviceNumber), RouteTableId: int32(datapath.ENITable(a.DeviceNumber)),
		}},
		VPCv6CIDRs: cidrs,
	}, nil
}

// delNetworkV6 is upstream's DelNetwork in IPv6 mode: the address cools
// down, the /80 stays.
func (b *backend) delNetworkV6(k datastore.Key, reason string) (*rpc.DelNetworkReply, error) {
	d := b.d
	a, err := d.v6.Release(k, d.clock.Now())
	if errors.Is(err, datastore.ErrUnknownPod) {
		err = datastore.ErrUnknownPod
	} else if err != nil {
		d.metrics.ipamdError("DelNetwork")
	}
	if err != nil {
		d.log.Info(fmt.Sprintf("Send DelNetworkReply: IPAddress: [], err: %v", err), "key", k)
		return &rpc.DelNetworkReply{Success: false}, multiError(err)
	}
	d.log.Info("Send DelNetworkReply", "IPv6Addr", a.IP, "DeviceNumber", a.DeviceNumber, "reason", reason, "key", k)
	return &rpc.DelNetworkReply{
		Success: true,
		IPAllocationMetadata: []*rpc.IPAllocationMetadata{{
			IPv6Addr: a.IP.String(), DeviceNumber: int32(a.DeviceNumber), RouteTableId: int32(datapath.ENITable(a.DeviceNumber)),
		}},
	}, nil
}
