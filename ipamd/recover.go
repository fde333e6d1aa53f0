package ipamd

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/datastore"
)

// recoveredNetwork names the keys of assignments rebuilt from the host's
// routes after the checkpoint was lost; their container id is "veth:" +
// the pod's host veth, which DelNetwork can derive from the pod's name.
const recoveredNetwork = "recovered"

func recoveredKey(veth string) datastore.Key {
	return datastore.Key{NetworkName: recoveredNetwork, ContainerID: "veth:" + veth, IfName: "eth0"}
}

// recoverFromHost rebuilds assignments from the node namespace when the
// checkpoint is unusable: every `<ip>/32 dev <veth>` route the CNI plugin
// installed marks an address a running pod holds, so it is not handed out
// twice (upstream asks the container runtime instead).
func (d *Daemon) recoverFromHost() (int, error) {
	if d.opts.NetNSPath == NoNetNS {
		return 0, nil
	}
	h, err := nsutil.Handle(d.opts.NetNSPath)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	links, err := nsutil.Retry(func() ([]netlink.Link, error) { return h.LinkList() })
	if err != nil {
		return 0, fmt.Errorf("list links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		if name := l.Attrs().Name; strings.HasPrefix(name, d.cfg.VethPrefix) {
			names[l.Attrs().Index] = name
		}
	}
	routes, err := nsutil.Retry(func() ([]netlink.Route, error) { return h.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return 0, fmt.Errorf("list routes: %w", err)
	}
	n := 0
	for _, r := range routes {
		veth, ok := names[r.LinkIndex]
		if !ok || r.Dst == nil {
			continue
		}
		if ones, _ := r.Dst.Mask.Size(); ones != 32 {
			continue
		}
		ip, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		if !ok {
			continue
		}
		if _, err := d.store.AssignIP(recoveredKey(veth), datastore.Pod{}, ip, d.clock.Now()); err != nil {
			d.log.Warn("recover: route to a pod address ipamd does not hold", "ip", ip, "veth", veth, "err", err)
			continue
		}
		n++
	}
	return n, nil
}
