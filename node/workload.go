package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/nsutil"
)

// PodSpec is a pod bound to a node by the lab's scheduler (a deployment's
// replica) rather than numbered by AddPods.
type PodSpec struct {
	// Name is the pod's Kubernetes name (web-3); "" numbers it pod-<n>.
	Name string
	// Deployment owns the pod ("" for none).
	Deployment string
	// HostNetwork pods run in the node's namespace: Ready at once, no
	// CNI ADD or DEL, no address from ipamd, yet they count against
	// maxPods as on a kubelet.
	HostNetwork bool
	// Labels are the pod's labels (SecurityGroupPolicies select by them).
	Labels map[string]string
}

// StartPod binds one pod to the node: it goes Pending under the
// kubelet-like runner (or Ready at once with HostNetwork), or Rejected
// beyond max pods. It returns once the pod exists.
func (n *Node) StartPod(ctx context.Context, spec PodSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := n.admit(spec)
	return err
}

// ForceDeletePod deletes a pod with a grace period of 0 as it reaches the
// node here: the sandbox (its namespace, and with it the veth pair) is
// gone but no CNI DEL ever runs, so ipamd keeps the address assigned. On
// upstream's ipamd nothing looks for such an address while it runs; at its
// next start normalizeCheckpointDataByPodVethExistence finds no host veth
// for the checkpoint entry and releases it.
func (n *Node) ForceDeletePod(name string) error {
	p := n.findPod(name)
	if p == nil {
		return fmt.Errorf("node: %s: no pod %q", n.name, name)
	}
	p.stop()
	n.forgetPodENI(p)
	err := errors.Join(n.removeHostVeth(p), p.removeNS())
	n.mu.Lock()
	n.removePod(p)
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("node: pod %s: %w", name, err)
	}
	n.log.Info("pod force-deleted: no CNI DEL", "pod", name)
	return nil
}

// removeHostVeth deletes a pod's host-side veth (and with it the pod's
// end) in the node's namespace, as the kernel does when the runtime
// removes the sandbox's namespace. Done here rather than left to that
// namespace's release, which the kernel runs later in the background
// (seconds on a loaded machine): an ipamd started meanwhile would still
// see the veth and keep the address. Any veth prefix matches, as in
// ipamd's own look-up; a pod without one is fine.
func (n *Node) removeHostVeth(p *pod) error {
	if n.h == nil {
		return nil
	}
	links, err := nsutil.Retry(func() ([]netlink.Link, error) { return n.h.LinkList() })
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	suffix := datapath.HostVethName("", PodNamespace, p.k8sName)
	for _, l := range links {
		if strings.HasSuffix(l.Attrs().Name, suffix) {
			if err := n.h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				return fmt.Errorf("delete host veth %s: %w", l.Attrs().Name, err)
			}
		}
	}
	return nil
}

// BoundPods is how many pods count against the node's max pods: the
// admitted ones plus the HostNetworkPods every node runs.
func (n *Node) BoundPods() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := HostNetworkPods
	for _, p := range n.pods {
		if !p.rejected {
			c++
		}
	}
	return c
}

// Labels are the node's labels: the spec's and the zone of its subnet.
func (n *Node) Labels() map[string]string {
	out := maps.Clone(n.spec.Labels)
	if out == nil {
		out = map[string]string{}
	}
	out[ZoneLabel] = n.subnet.AZ
	return out
}

// PodDeployment returns the deployment that owns the named pod, "" for
// none or an unknown pod.
func (n *Node) PodDeployment(name string) string {
	if p := n.findPod(name); p != nil {
		return p.deployment
	}
	return ""
}

// primaryIP is the node's primary private address (a host-network pod's).
func (n *Node) primaryIP() netip.Addr {
	inst, ok := n.lab.ec2.Instance(n.instanceID)
	if !ok {
		return netip.Addr{}
	}
	return inst.PrimaryIP
}
