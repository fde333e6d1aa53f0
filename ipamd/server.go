package ipamd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/ipamd/config"
	"github.com/enilab/enilab/ipamd/datastore"
	"github.com/enilab/enilab/ipamd/rpc"
)

// backend serves the CNIBackend protocol to the CNI plugin, as upstream's
// rpc_handler.go server does.
type backend struct {
	rpc.UnimplementedCNIBackendServer
	d *Daemon
}

// validateVersion refuses a client of another version, with upstream's
// status and wording (rpc_handler.go validateVersion).
func validateVersion(clientVersion string) error {
	if clientVersion != rpc.Version {
		return status.Errorf(codes.FailedPrecondition, "wrong client version %q (!= %q)", clientVersion, rpc.Version)
	}
	return nil
}

// AddNetwork assigns the pod an address (upstream rpc_handler.go
// AddNetwork): a request without ContainerID, IfName or NetworkName, and an
// empty pool, are Success=false (the plugin reports "try again later"); the
// VPC CIDRs are read from IMDS on every ADD, with the SNAT exclusions added
// unless external SNAT is on.
func (b *backend) AddNetwork(ctx context.Context, in *rpc.AddNetworkRequest) (*rpc.AddNetworkReply, error) {
	d := b.d
	d.metrics.addIPReq.Inc()
	if err := validateVersion(in.ClientVersion); err != nil {
		d.log.Warn(fmt.Sprintf("Rejecting AddNetwork request: %v", err))
		return nil, err
	}
	failure := &rpc.AddNetworkReply{Success: false}
	if in.ContainerID == "" || in.IfName == "" || in.NetworkName == "" {
		d.log.Error(fmt.Sprintf("Unable to generate IPAMKey from %+v", in))
		return failure, nil
	}
	if reply, ok := d.addBranchNetwork(ctx, in); ok {
		return reply, nil
	}
	k := datastore.Key{NetworkName: in.NetworkName, ContainerID: in.ContainerID, IfName: in.IfName}
	pod := datastore.Pod{Name: in.K8S_POD_NAME, Namespace: in.K8S_POD_NAMESPACE, Netns: in.Netns}
	if d.v6 != nil {
		return b.addNetworkV6(ctx, k, pod)
	}
	a, err := d.store.Assign(k, pod, d.clock.Now())
	if err != nil {
		// Upstream's lines: the datastore's, rpc_handler's per network
		// card, then its failure reply.
		if errors.Is(err, datastore.ErrNoAvailableIP) {
			d.metrics.noAvailableIP.Inc()
			d.log.Error("DataStore has no available IP/Prefix addresses")
		} else {
			d.metrics.ipamdError("AddNetwork")
		}
		d.log.Warn(fmt.Sprintf("Failed to assign IPs from network card %d: %v", d.limits.DefaultNetworkCard, err))
		d.log.Error(fmt.Sprintf("Returning failure response for AddNetwork: [%v]", err), "pod", in.K8S_POD_NAMESPACE+"/"+in.K8S_POD_NAME)
		return failure, nil
	}
	d.updateStoreGauges()
	cidrs, err := d.vpcIPv4CIDRs(ctx)
	if err != nil {
		// As upstream: the address stays assigned; the runtime's DEL
		// after the failed ADD releases it.
		return failure, err
	}
	if !d.cfg.ExternalSNAT {
		cidrs = append(cidrs, d.excludeSNATCIDRs()...)
	}
	reply := &rpc.AddNetworkReply{
		Success: true,
		IPAllocationMetadata: []*rpc.IPAllocationMetadata{{
			IPv4Addr: a.IP.String(), DeviceNumber: int32(a.DeviceNumber), RouteTableId: int32(datapath.ENITable(a.DeviceNumber)),
		}},
		UseExternalSNAT: d.cfg.ExternalSNAT,
		VPCv4CIDRs:      cidrs,
	}
	d.log.Info("Send AddNetworkReply", "IPv4Addr", a.IP, "DeviceNumber", a.DeviceNumber, "pod", in.K8S_POD_NAMESPACE+"/"+in.K8S_POD_NAME, "key", k)
	return reply, nil
}

// vpcIPv4CIDRs reads the VPC's IPv4 CIDR blocks from IMDS through the
// primary ENI's MAC, as upstream's GetVPCIPv4CIDRs does on every ADD.
func (d *Daemon) vpcIPv4CIDRs(ctx context.Context) ([]string, error) {
	text, err := d.imds.Get(ctx, "network/interfaces/macs/"+d.primary.MAC+"/vpc-ipv4-cidr-blocks")
	if err != nil {
		d.metrics.ipamdError("GetVPCIPv4CIDRBlocks")
		return nil, fmt.Errorf("get VPC IPv4 CIDR blocks: %w", err)
	}
	var out []string
	for _, f := range strings.Fields(text) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("get VPC IPv4 CIDR blocks: IMDS returned %q", f)
		}
		out = append(out, p.Masked().String())
	}
	return out, nil
}

// excludeSNATCIDRs parses AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS on every call,
// dropping (and logging) what is not an IPv4 CIDR, as upstream's
// parseCIDRString does.
func (d *Daemon) excludeSNATCIDRs() []string {
	cidrs, errs := config.ParseCIDRs(config.EnvExcludeSNATCIDRs, d.cfg.ExcludeSNATCIDRs)
	for _, e := range errs {
		d.log.Error(e)
	}
	return cidrs
}

// DelNetwork releases the pod's address (upstream rpc_handler.go
// DelNetwork). A pod ipamd does not know is answered as upstream answers
// it: an error whose text carries "datastore: unknown pod", which the plugin
// treats as success.
func (b *backend) DelNetwork(ctx context.Context, in *rpc.DelNetworkRequest) (*rpc.DelNetworkReply, error) {
	d := b.d
	d.metrics.delIPReq.WithLabelValues(in.Reason).Inc()
	if err := validateVersion(in.ClientVersion); err != nil {
		d.log.Warn(fmt.Sprintf("Rejecting DelNetwork request: %v", err))
		return nil, err
	}
	k := datastore.Key{NetworkName: in.NetworkName, ContainerID: in.ContainerID, IfName: in.IfName}
	if d.v6 != nil {
		return b.delNetworkV6(k, in.Reason)
	}
	a, err := d.store.Release(k, d.clock.Now())
	if errors.Is(err, datastore.ErrUnknownPod) {
		err = datastore.ErrUnknownPod // upstream's text, without our key
	} else if err != nil {
		d.metrics.ipamdError("DelNetwork")
	}
	if err != nil {
		d.log.Info(fmt.Sprintf("Send DelNetworkReply: IPAddress: [], err: %v", err), "key", k)
		return &rpc.DelNetworkReply{Success: false}, multiError(err)
	}
	d.pm.freeOtherModeOnRelease(ctx, a)
	d.updateStoreGauges()
	d.log.Info("Send DelNetworkReply", "IPv4Addr", a.IP, "DeviceNumber", a.DeviceNumber, "reason", in.Reason, "key", k)
	return &rpc.DelNetworkReply{
		Success: true,
		IPAllocationMetadata: []*rpc.IPAllocationMetadata{{
			IPv4Addr: a.IP.String(), DeviceNumber: int32(a.DeviceNumber), RouteTableId: int32(datapath.ENITable(a.DeviceNumber)),
		}},
	}, nil
}

// multiError words one error as upstream's go-multierror does, the text
// its DelNetwork returns (gRPC code Unknown).
func multiError(err error) error {
	return errors.New("1 error occurred:\n\t* " + err.Error() + "\n\n")
}
