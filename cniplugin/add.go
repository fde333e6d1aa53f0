package cniplugin

import (
	"context"
	"fmt"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/ipamd/rpc"
)

// cmdAdd asks ipamd for an address and wires the pod (DESIGN §4 "ADD").
func (p *plugin) cmdAdd(args *skel.CmdArgs) (rerr error) {
	s, k, err := addInputs(args)
	if err != nil {
		return err
	}
	b, err := p.dial(s.IPAMDSocket)
	if err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("aws-cni: ipamd is unreachable at %s: %v", s.IPAMDSocket, err), "")
	}
	defer b.Close()
	reply, err := requestAddress(b, s, k, args)
	if err != nil {
		return err
	}

	// From here on the address is the pod's: every way out but success
	// gives it back, a panic included. A panic inside wire has undone its
	// part by then; one after it finds the finished wiring in ad.wired.
	ad := &addition{s: s, k: k, args: args, b: b, hook: p.hook}
	defer func() {
		if r := recover(); r != nil {
			ad.unwireAfterPanic()
			rerr = ad.release(fmt.Errorf("panic: %v", r))
		}
	}()
	result, err := ad.wire(reply)
	if err != nil {
		return ad.release(err)
	}
	return types.PrintResult(result, s.Conf.CNIVersion)
}

// addInputs validates what ADD needs beyond the configuration: the pod's
// name and namespace (the host veth is named from them) and its netns.
func addInputs(args *skel.CmdArgs) (*Settings, K8sArgs, error) {
	s, err := ParseConfig(args.StdinData)
	if err != nil {
		return nil, K8sArgs{}, err
	}
	k, err := ParseK8sArgs(args.Args)
	if err != nil {
		return nil, K8sArgs{}, err
	}
	if k.PodName == "" || k.PodNamespace == "" {
		return nil, K8sArgs{}, types.NewError(types.ErrInvalidEnvironmentVariables,
			"aws-cni: CNI_ARGS must carry K8S_POD_NAMESPACE and K8S_POD_NAME (the host veth is named from them); got "+fmt.Sprintf("%q", args.Args), "")
	}
	if args.Netns == "" {
		return nil, K8sArgs{}, types.NewError(types.ErrInvalidNetNS, "aws-cni: CNI_NETNS is empty: ADD needs the pod's network namespace", "")
	}
	if _, err := os.Stat(args.Netns); err != nil {
		return nil, K8sArgs{}, types.NewError(types.ErrInvalidNetNS, fmt.Sprintf("aws-cni: pod network namespace %s: %v", args.Netns, err), "")
	}
	return s, k, nil
}

// requestAddress asks ipamd for the pod's address; every failure is code
// 11 (try again later) with what a person can do about it.
func requestAddress(b backend, s *Settings, k K8sArgs, args *skel.CmdArgs) (*rpc.AddNetworkReply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.IPAMDTimeout)
	defer cancel()
	reply, err := b.AddNetwork(ctx, &rpc.AddNetworkRequest{
		K8S_POD_NAME: k.PodName, K8S_POD_NAMESPACE: k.PodNamespace, K8S_POD_INFRA_CONTAINER_ID: k.InfraContainerID,
		Netns: args.Netns, IfName: args.IfName, NetworkName: s.Conf.Name, ContainerID: args.ContainerID,
		ClientVersion: ClientVersion,
	})
	switch {
	case unreachable(err):
		return nil, types.NewError(types.ErrTryAgainLater, fmt.Sprintf(
			"aws-cni: ipamd is unreachable at %s (%v); is ipamd (aws-node) running on this node?", s.IPAMDSocket, err), "")
	case err != nil:
		return nil, types.NewError(types.ErrTryAgainLater, fmt.Sprintf("aws-cni: ipamd refused an address for pod %s: %v", podRef(k), err), "")
	case !reply.GetSuccess():
		return nil, types.NewError(types.ErrTryAgainLater, fmt.Sprintf(
			"aws-cni: ipamd has no free IP address for pod %s (warm pool empty or node at max pods); try again later", podRef(k)), "")
	}
	return reply, nil
}

// addition is one ADD after ipamd assigned the address.
type addition struct {
	s     *Settings
	k     K8sArgs
	args  *skel.CmdArgs
	b     backend
	hook  stageHook
	wired *Attachment // set once the pod's networking is complete
}

// wire builds the pod's networking for the address in reply, records the
// attachment and returns the ADD result. On an error nothing it built is
// left; the caller releases the address.
func (ad *addition) wire(reply *rpc.AddNetworkReply) (types.Result, error) {
	alloc, err := firstAddress(reply.GetIPAllocationMetadata())
	if err != nil {
		return nil, err
	}
	if err := ad.hook("assign"); err != nil {
		return nil, err
	}
	host, err := openHost()
	if err != nil {
		return nil, err
	}
	defer host.Close()
	args := ad.args
	a := Attachment{
		HostVeth: datapath.HostVethName(ad.s.VethPrefix, ad.k.PodNamespace, ad.k.PodName),
		IfName:   args.IfName, Netns: args.Netns, IP: alloc.IP, MTU: ad.s.MTU,
		Table: alloc.Table, DeviceNumber: alloc.DeviceNumber,
		Dummy: datapath.HostVethName(datapath.DummyPrefix, ad.k.PodNamespace, ad.k.PodName),
	}
	if reply.GetPodVlanId() != 0 {
		// A branch ENI (upstream cni.go add: PodVlanId != 0).
		b, err := branchFromReply(reply)
		if err != nil {
			return nil, err
		}
		a.HostVeth = datapath.HostVethName(datapath.BranchVethPrefix(ad.s.VethPrefix, ad.s.Enforcing), ad.k.PodNamespace, ad.k.PodName)
		a.Table, a.VLAN = datapath.VLANTable(b.VLAN), b.VLAN
		err = host.wireBranch(&a, b, ad.s.Enforcing, ad.hook)
		if err != nil {
			return nil, err
		}
	} else if err := host.wire(&a, alloc.Table, ad.hook); err != nil {
		return nil, err
	}
	ad.wired = &a
	st := store{ad.s.StateDir}
	rec := record{
		Network: ad.s.Conf.Name, ContainerID: args.ContainerID, IfName: args.IfName, Netns: args.Netns,
		PodNamespace: ad.k.PodNamespace, PodName: ad.k.PodName, PodUID: ad.k.PodUID, HostVeth: a.HostVeth,
		IP: alloc.IP, DeviceNumber: alloc.DeviceNumber, Table: a.Table, VLAN: a.VLAN,
	}
	if err := st.put(rec); err != nil {
		_ = host.unwire(a)
		return nil, err
	}
	result, err := BuildResult(ad.s.Conf.CNIVersion, a)
	if err != nil {
		_ = host.unwire(a)
		_ = st.remove(rec.Network, rec.ContainerID, rec.IfName)
		return nil, err
	}
	return result, nil
}

// unwireAfterPanic removes finished wiring a panic left behind (a panic
// inside host.wire has undone its own part already).
func (ad *addition) unwireAfterPanic() {
	if ad.wired == nil {
		return
	}
	if h, err := openHost(); err == nil {
		_ = h.unwire(*ad.wired)
		h.Close()
	}
}

// release gives the address back after a failed setup and says so in the
// returned error (code ErrSetupFailed).
func (ad *addition) release(cause error) *types.Error {
	ctx, cancel := context.WithTimeout(context.Background(), ad.s.IPAMDTimeout)
	defer cancel()
	_, delErr := ad.b.DelNetwork(ctx, delRequest(ReasonSetupFailed, ad.s.Conf.Name, ad.args.ContainerID, ad.args.IfName, ad.k))
	msg := fmt.Sprintf("aws-cni: set up network of pod %s: %v", podRef(ad.k), cause)
	if delErr != nil && !unknownPod(delErr) {
		msg += fmt.Sprintf("; releasing the address also failed (%v) — ipamd's reconcile will reclaim it", delErr)
	} else {
		msg += "; the address was released and nothing was left behind"
	}
	return types.NewError(ErrSetupFailed, msg, "")
}
