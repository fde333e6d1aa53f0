package cniplugin

import (
	"context"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// cmdGC releases the attachments the plugin recorded that the runtime no
// longer lists in cni.dev/valid-attachments.
func (p *plugin) cmdGC(args *skel.CmdArgs) error {
	s, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	valid := map[types.GCAttachment]bool{}
	for _, v := range s.Conf.ValidAttachments {
		valid[v] = true
	}
	st := store{s.StateDir}
	recs, err := st.list(s.Conf.Name)
	if err != nil {
		return types.NewError(types.ErrIOFailure, "aws-cni: GC: "+err.Error(), "")
	}
	var stale []record
	for _, r := range recs {
		if !valid[types.GCAttachment{ContainerID: r.ContainerID, IfName: r.IfName}] {
			stale = append(stale, r)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	b, err := p.dial(s.IPAMDSocket)
	if err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("aws-cni: GC: ipamd is unreachable at %s: %v", s.IPAMDSocket, err), "")
	}
	defer b.Close()
	host, err := openHost()
	if err != nil {
		return types.NewError(types.ErrInternal, "aws-cni: GC: "+err.Error(), "")
	}
	defer host.Close()
	var errs []string
	for _, r := range stale {
		ctx, cancel := context.WithTimeout(context.Background(), s.IPAMDTimeout)
		_, err := b.DelNetwork(ctx, delRequest(ReasonGC, r.Network, r.ContainerID, r.IfName,
			K8sArgs{PodName: r.PodName, PodNamespace: r.PodNamespace, PodUID: r.PodUID}))
		cancel()
		if unreachable(err) {
			return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("aws-cni: GC: ipamd is unreachable at %s (%v)", s.IPAMDSocket, err), "")
		}
		if err != nil && !unknownPod(err) {
			errs = append(errs, fmt.Sprintf("release %v of container %s: %v", r.IP, r.ContainerID, err))
			continue
		}
		if err := host.unwire(Attachment{HostVeth: r.HostVeth, IfName: r.IfName, Netns: r.Netns, IP: r.IP}); err != nil {
			errs = append(errs, fmt.Sprintf("clean up container %s: %v", r.ContainerID, err))
			continue
		}
		if err := st.remove(r.Network, r.ContainerID, r.IfName); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return types.NewError(types.ErrTryAgainLater, "aws-cni: GC: "+strings.Join(errs, "; "), "")
	}
	return nil
}
