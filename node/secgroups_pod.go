package node

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/enilab/enilab/internal/clock"
)

// ErrNoVLAN is why a pod with a branch ENI cannot get its datapath on this
// host: the plugin puts a VLAN link on the trunk ENI, and the kernel here
// has no 8021q (VLAN) support.
var ErrNoVLAN = errors.New("the branch ENI datapath needs a VLAN link on the trunk ENI, and this kernel lacks 8021q (802.1Q VLAN) support; run it in the VM runner (make vm-test), whose kernel has it")

// VLANSupported says whether the kernel can make VLAN links (8021q loaded
// or built in: /proc/net/vlan exists).
func VLANSupported() bool {
	_, err := os.Stat("/proc/net/vlan")
	return err == nil
}

// awaitPodENI is the part of the pod's sandbox wait that belongs to
// security groups for pods: a pod no SecurityGroupPolicy selects goes on
// at once (false). A selected pod waits, Pending, for the resource
// controller's branch ENI (retrying with the kubelet's back-off while EC2
// refuses, e.g. InvalidSecurityGroupID.NotFound for a missing group); once
// it has one, it stops (true): the plugin's VLAN datapath is not in the
// lab (see ErrNoVLAN and the README), so the pod stays Pending saying why.
func (n *Node) awaitPodENI(ctx context.Context, p *pod) bool {
	rc := n.lab.resourceController()
	backoff := n.lab.cfg.PodBackoff
	for {
		b, selected, err := rc.branchFor(ctx, n, p)
		if !selected {
			return false
		}
		if ctx.Err() != nil {
			return true
		}
		msg := ""
		if err == nil {
			msg = fmt.Sprintf("branch ENI %s (VLAN %d, %s) is associated with the trunk; %s", b.ENIID, b.VlanID, b.PrivateIP, podENIDatapathGap())
		} else {
			msg = err.Error()
		}
		p.mu.Lock()
		p.message = msg
		p.mu.Unlock()
		if err == nil {
			n.log.Info("pod waits for its branch ENI datapath", "pod", p.name, "eni", b.ENIID)
			return true
		}
		n.log.Debug("pod ENI", "pod", p.name, "err", err)
		if clock.Sleep(ctx, n.lab.clock, backoff) != nil {
			return true
		}
		backoff = min(backoff*2, n.lab.cfg.PodBackoffMax)
	}
}

// podENIDatapathGap says why a pod with a branch ENI stays Pending.
func podENIDatapathGap() string {
	if !VLANSupported() {
		return ErrNoVLAN.Error()
	}
	return "the plugin's branch ENI datapath (SetupBranchENIPodNetwork) is not in enilab yet"
}

// releasePodENI gives a normally deleted pod's branch ENI back.
func (n *Node) releasePodENI(ctx context.Context, p *pod) error {
	n.lab.mu.Lock()
	rc := n.lab.rc
	n.lab.mu.Unlock()
	if rc == nil {
		return nil
	}
	return rc.release(ctx, p.name)
}

// forgetPodENI is a grace-period-0 delete as the resource controller sees
// it: the branch ENI stays in EC2 (leaked).
func (n *Node) forgetPodENI(p *pod) {
	n.lab.mu.Lock()
	rc := n.lab.rc
	n.lab.mu.Unlock()
	if rc != nil {
		rc.forget(p.name)
		n.log.Info("pod force-deleted: its branch ENI, if any, leaks", "pod", p.name)
	}
}
