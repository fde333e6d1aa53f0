package ipamd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/nsutil"
)

// hostVeths returns whether a pod has a host veth: a link of the node
// namespace whose name ends in the hash upstream's
// GeneratePodHostVethNameSuffix gives the pod (so a changed
// AWS_VPC_K8S_CNI_VETHPREFIX still matches). nil when there is no node
// namespace to look in. Options.VethExists, when set, is asked for the
// pod's veth name instead (an error there keeps the pod).
func (d *Daemon) hostVeths() (func(namespace, pod string) bool, error) {
	if hook := d.opts.VethExists; hook != nil {
		return func(namespace, pod string) bool {
			ok, err := hook(datapath.HostVethName(d.cfg.VethPrefix, namespace, pod))
			return ok || err != nil
		}, nil
	}
	if d.opts.NetNSPath == NoNetNS {
		return nil, nil
	}
	h, err := nsutil.Handle(d.opts.NetNSPath)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := nsutil.Retry(func() ([]netlink.Link, error) { return h.LinkList() })
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	names := make([]string, 0, len(links))
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	return func(namespace, pod string) bool {
		suffix := datapath.HostVethName("", namespace, pod)
		for _, n := range names {
			if strings.HasSuffix(n, suffix) {
				return true
			}
		}
		return false
	}, nil
}

// pruneStaleRules deletes the to-pod rule (main table) and the from-pod
// rule (any table) of each address whose pod is gone (upstream's
// PruneStaleAllocations); a rule already gone is fine.
func (d *Daemon) pruneStaleRules(ips []netip.Addr) {
	if d.opts.NetNSPath == NoNetNS {
		return
	}
	h, err := nsutil.Handle(d.opts.NetNSPath)
	if err != nil {
		d.log.Error("cannot open the node namespace to prune stale IP rules", "err", err)
		return
	}
	defer h.Close()
	d.log.Info("Pruning potentially stale IP rules")
	for _, ip := range ips {
		host := &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}
		d.log.Info(fmt.Sprintf("Delete toContainer rule for v4: %s, v6: %s", ip, ""))
		to := netlink.NewRule()
		to.Priority, to.Table, to.Dst = datapath.ToPodRulePriority, unix.RT_TABLE_MAIN, host
		if err := h.RuleDel(to); err != nil && !errors.Is(err, unix.ENOENT) {
			d.log.Error(fmt.Sprintf("failed to delete toContainer rule, addr=%s", host))
		}
		d.log.Info(fmt.Sprintf("Delete fromContainer rule for v4: %s, v6: %s", ip, ""))
		from := netlink.NewRule()
		from.Priority, from.Table, from.Src = datapath.FromPodRulePriority, unix.RT_TABLE_UNSPEC, host
		if err := h.RuleDel(from); err != nil && !errors.Is(err, unix.ENOENT) {
			d.log.Error(fmt.Sprintf("failed to delete fromContainer rule, addr=%s", host))
		}
	}
}
