package cniplugin

import (
	"context"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/enilab/enilab/internal/datapath"
)

// cmdDel removes what ADD built and releases the address; see DESIGN §4 "DEL".
func (p *plugin) cmdDel(args *skel.CmdArgs) error {
	s, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	k, _ := ParseK8sArgs(args.Args) // DEL cleans up even with odd CNI_ARGS
	st := store{s.StateDir}
	rec, haveRec := st.get(s.Conf.Name, args.ContainerID, args.IfName)
	prev, _ := attachmentFromResult(s.Conf.PrevResult, args.IfName)

	a := Attachment{IfName: args.IfName, Netns: args.Netns, IP: prev.IP, HostVeth: prev.HostVeth}
	if k.PodName != "" && k.PodNamespace != "" {
		a.HostVeth = datapath.HostVethName(s.VethPrefix, k.PodNamespace, k.PodName)
	}
	if haveRec {
		if a.HostVeth == "" {
			a.HostVeth = rec.HostVeth
		}
		if !a.IP.IsValid() {
			a.IP = rec.IP
		}
		if k.PodName == "" {
			k.PodName, k.PodNamespace, k.PodUID = rec.PodName, rec.PodNamespace, rec.PodUID
		}
	}

	var ipamdErr error
	if b, err := p.dial(s.IPAMDSocket); err != nil {
		ipamdErr = err
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), s.IPAMDTimeout)
		reply, err := b.DelNetwork(ctx, delRequest(ReasonPodDeleted, s.Conf.Name, args.ContainerID, args.IfName, k))
		cancel()
		b.Close()
		ipamdErr = err
		if err == nil && reply.GetSuccess() {
			if alloc, aerr := firstIPv4(reply.GetIPAllocationMetadata()); aerr == nil {
				a.IP = alloc.IP
			}
		}
	}

	host, err := openHost()
	if err != nil {
		return types.NewError(types.ErrInternal, "aws-cni: DEL: "+err.Error(), "")
	}
	defer host.Close()
	if err := host.unwire(a, args.ContainerID); err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("aws-cni: DEL of container %s: %v", args.ContainerID, err), "")
	}
	if err := st.remove(s.Conf.Name, args.ContainerID, args.IfName); err != nil {
		return types.NewError(types.ErrIOFailure, "aws-cni: DEL: "+err.Error(), "")
	}
	// ipamd down: its restore drops addresses whose host veth is gone, so
	// DEL succeeds rather than block sandbox removal on it.
	if ipamdErr != nil && !unreachable(ipamdErr) && !unknownPod(ipamdErr) {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf(
			"aws-cni: the pod's networking is removed but ipamd at %s failed to release its address: %v", s.IPAMDSocket, ipamdErr), "")
	}
	return nil
}
