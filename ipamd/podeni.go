package ipamd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/netsetup"
	"github.com/enilab/enilab/ipamd/rpc"
)

// PodENILookup returns a pod's vpc.amazonaws.com/pod-eni annotation, as
// upstream's AddNetwork reads it through the API server (GetPod); found is
// false for a pod without one (no SecurityGroupPolicy selects it).
type PodENILookup func(namespace, name string) (annotation string, found bool, err error)

// podENIData is one element of the annotation (upstream's PodENIData).
type podENIData struct {
	ENIID      string `json:"eniId"`
	IfAddress  string `json:"ifAddress"`
	PrivateIP  string `json:"privateIp"`
	VlanID     int    `json:"vlanID"`
	SubnetCIDR string `json:"subnetCidr"`
}

// setTrunk records the trunk ENI the pool manager found attached.
func (d *Daemon) setTrunk(e awsapi.ENI) {
	d.trunkMu.Lock()
	defer d.trunkMu.Unlock()
	d.trunkMAC = e.MAC
}

// trunkFound records the trunk ENI and sets up its link in the node
// namespace as for any secondary ENI (upstream's setupENI calls
// SetupENINetwork for the trunk too; it takes no pod addresses): the
// plugin's VLAN links need their parent up.
func (m *poolManager) trunkFound(ctx context.Context, e awsapi.ENI) {
	first := m.trunk() == ""
	m.setTrunk(e)
	if !first {
		return
	}
	cidr, err := m.subnetCIDR(ctx, e)
	if err == nil {
		err = m.setupENINetwork(e.MAC, e.PrimaryIP, cidr, e.DeviceIndex)
	}
	if err != nil {
		m.log.Error("trunk ENI: cannot set up its link", "eni", e.ID, "err", err)
	}
}

func (d *Daemon) trunk() string {
	d.trunkMu.Lock()
	defer d.trunkMu.Unlock()
	return d.trunkMAC
}

// addBranchNetwork is AddNetwork for a pod with a branch ENI (upstream's
// AddNetwork with enablePodENI): the address, VLAN, MAC and gateway come
// from the annotation, the parent from the trunk ENI's link; the datastore
// is not touched. handled is false for a pod without the annotation (or
// with ENABLE_POD_ENI off), which takes an address from the pool.
func (d *Daemon) addBranchNetwork(ctx context.Context, in *rpc.AddNetworkRequest) (_ *rpc.AddNetworkReply, handled bool) {
	if !d.cfg.EnablePodENI || d.opts.PodENI == nil {
		return nil, false
	}
	failure := &rpc.AddNetworkReply{Success: false}
	val, found, err := d.opts.PodENI(in.K8S_POD_NAMESPACE, in.K8S_POD_NAME)
	if err != nil {
		d.log.Warn(fmt.Sprintf("Send AddNetworkReply: Failed to get pod: %v", err))
		return failure, true
	}
	if !found {
		return nil, false
	}
	reply, err := d.branchReply(ctx, val)
	if err != nil {
		d.log.Error(err.Error())
		return failure, true
	}
	d.log.Info("Send AddNetworkReply", "IPv4Addr", reply.IPAllocationMetadata[0].IPv4Addr, "PodVlanId", reply.PodVlanId,
		"pod", in.K8S_POD_NAMESPACE+"/"+in.K8S_POD_NAME)
	return reply, true
}

func (d *Daemon) branchReply(ctx context.Context, val string) (*rpc.AddNetworkReply, error) {
	mac := d.trunk()
	if mac == "" {
		return nil, errors.New("Send AddNetworkReply: No trunk ENI found, cannot add a pod ENI")
	}
	parent, err := d.linkIndexByMAC(mac)
	if err != nil {
		return nil, fmt.Errorf("Send AddNetworkReply: No trunk ENI Link Index found, cannot add a pod ENI: %w", err)
	}
	var data []podENIData
	if err := json.Unmarshal([]byte(val), &data); err != nil || len(data) < 1 {
		return nil, fmt.Errorf("Failed to unmarshal PodENIData JSON: %v", err)
	}
	first := data[0]
	ip, ipErr := netip.ParseAddr(first.PrivateIP)
	if ipErr != nil || first.IfAddress == "" || first.VlanID == 0 {
		return nil, fmt.Errorf("Failed to parse pod-ENI annotation: %s", val)
	}
	subnet, err := netip.ParsePrefix(first.SubnetCIDR)
	if err != nil {
		return nil, fmt.Errorf("Failed to parse V4 subnet CIDR: %s", first.SubnetCIDR)
	}
	cidrs, err := d.vpcIPv4CIDRs(ctx)
	if err != nil {
		return nil, err
	}
	return &rpc.AddNetworkReply{
		Success: true,
		// Device number -1: a branch ENI's pod depends on the trunk, not
		// on a device's table.
		IPAllocationMetadata: []*rpc.IPAllocationMetadata{{IPv4Addr: ip.String(), DeviceNumber: -1}},
		UseExternalSNAT:      d.cfg.ExternalSNAT,
		VPCv4CIDRs:           cidrs,
		PodVlanId:            int32(first.VlanID),
		PodENIMAC:            first.IfAddress,
		// The subnet's .1, as upstream's GetIPv4Gateway.
		PodENISubnetGW: subnet.Masked().Addr().Next().String(),
		ParentIfIndex:  int32(parent),
	}, nil
}

// linkIndexByMAC finds the trunk ENI's link in the node namespace
// (upstream's getTrunkLinkIndex).
func (d *Daemon) linkIndexByMAC(mac string) (int, error) {
	if d.opts.NetNSPath == NoNetNS {
		return 0, errors.New("no node networking")
	}
	return netsetup.LinkIndexByMAC(d.opts.NetNSPath, mac)
}
