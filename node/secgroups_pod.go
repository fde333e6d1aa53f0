package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
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
// refuses, e.g. InvalidSecurityGroupID.NotFound for a missing group, or
// while its trunk's link is not plugged yet); once the branch is in the
// fabric the pod goes on to its ADD (false), where the plugin builds the
// VLAN datapath. On a kernel without 8021q it stops there (true), Pending,
// saying why (ErrNoVLAN).
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
		if err == nil && !VLANSupported() {
			p.setMessage(fmt.Sprintf("branch ENI %s (VLAN %d, %s) is associated with the trunk; %v", b.ENIID, b.VlanID, b.PrivateIP, ErrNoVLAN))
			n.log.Info("pod cannot get its branch ENI datapath", "pod", p.name, "eni", b.ENIID, "err", ErrNoVLAN)
			return true
		}
		if err == nil {
			if err = n.plugBranch(b); err == nil {
				return false
			}
		}
		p.setMessage(err.Error())
		n.log.Debug("pod ENI", "pod", p.name, "err", err)
		if clock.Sleep(ctx, n.lab.clock, backoff) != nil {
			return true
		}
		backoff = min(backoff*2, n.lab.cfg.PodBackoffMax)
	}
}

// plugBranch connects a pod's branch ENI to the VPC namespace through its
// node's trunk (veth backend; with dummy links nothing leaves the node).
func (n *Node) plugBranch(b PodENI) error {
	if n.lab.backend != BackendVeth {
		return nil
	}
	mac, err := net.ParseMAC(b.IfAddress)
	if err != nil {
		return fmt.Errorf("node: branch ENI %s MAC %q: %w", b.ENIID, b.IfAddress, err)
	}
	ip, err := netip.ParseAddr(b.PrivateIP)
	if err != nil {
		return fmt.Errorf("node: branch ENI %s address %q: %w", b.ENIID, b.PrivateIP, err)
	}
	return n.lab.fabric.plugBranch(n.TrunkENI(), b.VlanID, mac, ip)
}

// setMessage is the pod's status message (why it is Pending).
func (p *pod) setMessage(msg string) {
	p.mu.Lock()
	p.message = msg
	p.mu.Unlock()
}

// releasePodENI gives a normally deleted pod's branch ENI back.
func (n *Node) releasePodENI(ctx context.Context, p *pod) error {
	n.lab.mu.Lock()
	rc := n.lab.rc
	n.lab.mu.Unlock()
	if rc == nil {
		return nil
	}
	var unplug error
	if b, ok := n.lab.PodENI(p.name); ok && n.lab.backend == BackendVeth {
		unplug = n.lab.fabric.unplugBranch(n.TrunkENI(), b.VlanID)
	}
	return errors.Join(unplug, rc.release(ctx, p.name))
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
