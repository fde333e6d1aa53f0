package nodelab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/node"
)

// podAddr finds a pod's node and address.
func (l *scenarioLab) podAddr(pod string) (*node.Node, netip.Addr, error) {
	nodeName, _, err := datapath.ParsePodName(pod)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	nd, err := l.node(nodeName)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	for _, p := range nd.Pods() {
		if p.Name == pod {
			if !p.IP.IsValid() {
				return nil, netip.Addr{}, fmt.Errorf("pod %s has no address (it is %s)", pod, p.Phase)
			}
			return nd, p.IP, nil
		}
	}
	return nil, netip.Addr{}, fmt.Errorf("no pod %s on %s", pod, nodeName)
}

// podHandle returns a netlink handle inside the namespace of the pod's node,
// with the node and the pod's address; the caller closes the handle.
func (l *scenarioLab) podHandle(pod string) (*netlink.Handle, *node.Node, netip.Addr, error) {
	nd, ip, err := l.podAddr(pod)
	if err != nil {
		return nil, nil, netip.Addr{}, err
	}
	h, err := nsutil.Handle(nd.NetNS())
	if err != nil {
		return nil, nil, netip.Addr{}, fmt.Errorf("netlink in %s's namespace: %w", nd.Name(), err)
	}
	return h, nd, ip, nil
}

// BreakRule deletes the pod's `from <ip> lookup <table>` rule in its node's
// namespace, so the pod's replies follow the main table out of the primary
// ENI, where the VPC's source check drops them.
func (l *scenarioLab) BreakRule(ctx context.Context, pod string) error {
	h, nd, ip, err := l.podHandle(pod)
	if err != nil {
		return err
	}
	defer h.Close()
	rules, err := nsutil.Retry(func() ([]netlink.Rule, error) { return h.RuleList(unix.AF_INET) })
	if err != nil {
		return fmt.Errorf("listing rules on %s: %w", nd.Name(), err)
	}
	for i := range rules {
		r := rules[i]
		if r.Priority != datapath.FromPodRulePriority || r.Src == nil || !r.Src.IP.Equal(net.IP(ip.AsSlice())) {
			continue
		}
		if err := h.RuleDel(&r); err != nil {
			return fmt.Errorf("deleting rule from %s lookup %d: %w", ip, r.Table, err)
		}
		l.mu.Lock()
		l.broken[pod] = &r
		l.mu.Unlock()
		return nil
	}
	return fmt.Errorf("%s (%s) has no priority-%d rule: its address is on the primary ENI, whose traffic already leaves by eth0; pick a pod on a secondary ENI",
		pod, ip, datapath.FromPodRulePriority)
}

// FixRule puts back the rule BreakRule removed.
func (l *scenarioLab) FixRule(ctx context.Context, pod string) error {
	l.mu.Lock()
	r := l.broken[pod]
	l.mu.Unlock()
	if r == nil {
		return fmt.Errorf("no rule of %s was deleted by breakRule", pod)
	}
	h, _, _, err := l.podHandle(pod)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.RuleAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding rule from %s lookup %d: %w", r.Src, r.Table, err)
	}
	l.mu.Lock()
	delete(l.broken, pod)
	l.mu.Unlock()
	return nil
}
