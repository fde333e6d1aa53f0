package cniplugin

import (
	"context"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/ipamd/rpc"
)

// cmdDel releases the address and removes the pod's rules and route (not
// its veth: that goes with the netns the runtime removes), in upstream's
// order (cni.go del, driver.go TeardownPodNetwork): ipamd first; ipamd unreachable or failing
// → tear down what prevResult names and succeed (ipamd reclaims the address
// later); ipamd does not know the pod → succeed without touching anything;
// ipamd answers Success=false → fail.
func (p *plugin) cmdDel(args *skel.CmdArgs) error {
	s, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	k, _ := ParseK8sArgs(args.Args) // DEL cleans up even with odd CNI_ARGS
	st := store{s.StateDir}
	rec, haveRec := st.get(s.Conf.Name, args.ContainerID, args.IfName)
	prev, _ := attachmentFromResult(s.Conf.PrevResult, args.IfName)
	if k.PodName == "" && haveRec {
		k.PodName, k.PodNamespace, k.PodUID = rec.PodName, rec.PodNamespace, rec.PodUID
	}
	a := Attachment{IfName: args.IfName, Netns: args.Netns, IP: prev.IP, HostVeth: prev.HostVeth, Table: prev.Table}
	if k.PodName != "" && k.PodNamespace != "" {
		a.HostVeth = datapath.HostVethName(s.VethPrefix, k.PodNamespace, k.PodName)
	}
	if haveRec && !a.IP.IsValid() {
		a.IP, a.Table = rec.IP, rec.Table
	}
	if haveRec && a.HostVeth == "" {
		a.HostVeth = rec.HostVeth
	}
	if prev.VLAN != 0 || (haveRec && rec.VLAN != 0) {
		return delBranch(s, args, st, prev, rec)
	}

	reply, ipamdErr := p.release(s, args, k)
	switch {
	case ipamdErr != nil && unknownPod(ipamdErr):
		// Upstream: "Container %s not found", DEL succeeds and leaves the
		// node as it is.
		return st.removeOrError(s.Conf.Name, args.ContainerID, args.IfName)
	case ipamdErr == nil && !reply.GetSuccess():
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf(
			"aws-cni: DEL of container %s: ipamd failed to process the delete request (Success == false)", args.ContainerID), "")
	case ipamdErr == nil:
		if alloc, aerr := firstAddress(reply.GetIPAllocationMetadata()); aerr == nil {
			a.IP, a.Table = alloc.IP, alloc.Table
		}
	}
	// ipamd unreachable or failing: prevResult (or the plugin's record)
	// guides the teardown and DEL succeeds, as upstream's
	// teardownPodNetworkWithPrevResult; ipamd's restore reclaims the address.
	host, err := openHost()
	if err != nil {
		return types.NewError(types.ErrInternal, "aws-cni: DEL: "+err.Error(), "")
	}
	defer host.Close()
	if err := host.unroute(a); err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("aws-cni: DEL of container %s: %v", args.ContainerID, err), "")
	}
	return st.removeOrError(s.Conf.Name, args.ContainerID, args.IfName)
}

// release asks ipamd to free the attachment's address.
func (p *plugin) release(s *Settings, args *skel.CmdArgs, k K8sArgs) (*rpc.DelNetworkReply, error) {
	b, err := p.dial(s.IPAMDSocket)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), s.IPAMDTimeout)
	defer cancel()
	return b.DelNetwork(ctx, delRequest(ReasonPodDeleted, s.Conf.Name, args.ContainerID, args.IfName, k))
}

// removeOrError drops the plugin's record of an attachment, as a CNI error.
func (s store) removeOrError(network, containerID, ifName string) error {
	if err := s.remove(network, containerID, ifName); err != nil {
		return types.NewError(types.ErrIOFailure, "aws-cni: DEL: "+err.Error(), "")
	}
	return nil
}

// delBranch is DEL of a pod with a branch ENI, without ipamd, as upstream's
// tryDelWithPrevResult: the VLAN id comes from prevResult's dummy
// interface (or the plugin's record); an empty netns means the runtime
// already removed the sandbox, and upstream then leaves the node alone.
func delBranch(s *Settings, args *skel.CmdArgs, st store, prev Attachment, rec record) error {
	ip, vlan := prev.IP, prev.VLAN
	if vlan == 0 {
		ip, vlan = rec.IP, rec.VLAN
	}
	if !ip.IsValid() {
		ip = rec.IP
	}
	if args.Netns == "" {
		return st.removeOrError(s.Conf.Name, args.ContainerID, args.IfName)
	}
	host, err := openHost()
	if err != nil {
		return types.NewError(types.ErrInternal, "aws-cni: DEL: "+err.Error(), "")
	}
	defer host.Close()
	if err := host.teardownBranch(ip, vlan); err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("aws-cni: DEL of container %s: %v", args.ContainerID, err), "")
	}
	return st.removeOrError(s.Conf.Name, args.ContainerID, args.IfName)
}
