package cniplugin

import (
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/enilab/enilab/internal/datapath"
)

// cmdCheck compares the pod's networking with prevResult and names every
// difference (code ErrCheckFailed).
func (p *plugin) cmdCheck(args *skel.CmdArgs) error {
	s, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	if s.Conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "aws-cni: CHECK needs prevResult (the runtime passes the ADD result)", "")
	}
	prev, err := attachmentFromResult(s.Conf.PrevResult, args.IfName)
	if err != nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "aws-cni: CHECK: "+err.Error(), "")
	}
	if !prev.IP.IsValid() || prev.HostVeth == "" {
		return types.NewError(types.ErrInvalidNetworkConfig,
			"aws-cni: CHECK: prevResult names no IP address or no host interface; it is not an aws-cni result", "")
	}
	a := prev
	a.IfName, a.Netns = args.IfName, args.Netns
	k, _ := ParseK8sArgs(args.Args)

	host, err := openHost()
	if err != nil {
		return types.NewError(types.ErrInternal, "aws-cni: CHECK: "+err.Error(), "")
	}
	defer host.Close()

	var bad []string
	table := prev.Table // the pod interface's mac, as upstream writes it
	if rec, ok := (store{s.StateDir}).get(s.Conf.Name, args.ContainerID, args.IfName); ok {
		if table == 0 {
			table = rec.Table
		}
		if rec.IP != prev.IP {
			bad = append(bad, fmt.Sprintf("prevResult address %v differs from the recorded %v", prev.IP, rec.IP))
		}
	}
	table = tableOf(table)
	if k.PodName != "" && k.PodNamespace != "" {
		prefix := s.VethPrefix
		if prev.VLAN != 0 {
			prefix = datapath.BranchVethPrefix(s.VethPrefix, s.Enforcing)
		}
		if want := datapath.HostVethName(prefix, k.PodNamespace, k.PodName); want != prev.HostVeth {
			bad = append(bad, fmt.Sprintf("prevResult host interface %s is not the pod's veth name %s", prev.HostVeth, want))
		}
	}
	if prev.VLAN != 0 {
		bad = append(bad, host.checkBranch(a, s.Enforcing, s.MTU)...)
	} else {
		bad = append(bad, host.check(a, table, s.MTU)...)
	}
	if len(bad) > 0 {
		return types.NewError(ErrCheckFailed, fmt.Sprintf("aws-cni: CHECK of container %s (%v): %s",
			args.ContainerID, prev.IP, strings.Join(bad, "; ")), "")
	}
	return nil
}
