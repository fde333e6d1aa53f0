package egress

import (
	"errors"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/utils"
)

// chainPrefix names the pod's nat chain for IPv4 egress (upstream's "E4-").
const chainPrefix = "E4-"

// names are the pod's chain and comment, as upstream derives them from the
// network name and the container id (plugins' utils).
func names(c *Conf, containerID string) (chain, comment string) {
	return utils.MustFormatChainNameWithPrefix(c.Name, containerID, chainPrefix), utils.FormatComment(c.Name, containerID)
}

// cmdAdd is upstream's add + cmdAddEgressV4: one address from host-local,
// forwarding on, the pod's v4if0 and its host veth, SNAT to nodeIP, and
// the previous result with the two new interfaces appended. A failure
// after the address was taken gives it back.
func cmdAdd(args *skel.CmdArgs) (err error) {
	c, err := parseConf(args.StdinData, true)
	if err != nil {
		return err
	}
	if !c.enabled() {
		return types.PrintResult(c.prev, c.CNIVersion)
	}
	hl, err := loadHostLocal(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	tmp, err := hl.add(args.ContainerID, args.IfName)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = hl.del(args.ContainerID, args.IfName)
		}
	}()
	s, err := newSNAT()
	if err != nil {
		return err
	}
	if err := ip.EnableForward(tmp.IPs); err != nil {
		return fmt.Errorf("egress-cni: could not enable IP forwarding: %w", err)
	}
	host, _, err := setupContainer(args.Netns, c.mtu, tmp)
	if err != nil {
		return fmt.Errorf("egress-cni: container side: %w", err)
	}
	if err := setupHost(host.Name, tmp); err != nil {
		return fmt.Errorf("egress-cni: host side: %w", err)
	}
	chain, comment := names(c, args.ContainerID)
	for _, ipc := range tmp.IPs {
		if ipc.Address.IP.To4() != nil {
			if err := s.add(c.NodeIP, ipc.Address.IP, chain, comment, c.RandomizeSNAT); err != nil {
				return err
			}
		}
	}
	c.prev.Interfaces = append(c.prev.Interfaces, tmp.Interfaces...)
	return types.PrintResult(c.prev, c.CNIVersion)
}

// loadEnabled parses the configuration of a DEL or CHECK (no previous
// result needed) and loads host-local; a nil Conf means the plugin is
// off and there is nothing to do.
func loadEnabled(args *skel.CmdArgs) (*Conf, *hostLocal, error) {
	c, err := parseConf(args.StdinData, false)
	if err != nil || !c.enabled() {
		return nil, nil, err
	}
	hl, err := loadHostLocal(args.StdinData, args.Args)
	if err != nil {
		return nil, nil, err
	}
	return c, hl, nil
}

// cmdDel is upstream's del + cmdDelEgress: the address back to host-local,
// the SNAT chain of each link-local address on v4if0 removed. Unlike
// upstream, v4if0 is deleted too (upstream leaves it to the namespace's
// end), and the address host-local held is unSNAT'd even when the pod's
// namespace is already gone (upstream then leaves the chain behind). A DEL
// of what is already gone succeeds.
func cmdDel(args *skel.CmdArgs) error {
	c, hl, err := loadEnabled(args)
	if err != nil || c == nil {
		return err
	}
	addrs, err := hl.reserved(args.ContainerID, args.IfName)
	if err != nil {
		return err
	}
	if err := hl.del(args.ContainerID, args.IfName); err != nil {
		return err
	}
	s, err := newSNAT()
	if err != nil {
		return err
	}
	if args.Netns != "" {
		onLink, err := podAddrs(args.Netns, true)
		var gone ns.NSPathNotExistErr
		if err != nil && !errors.As(err, &gone) {
			return fmt.Errorf("egress-cni: %w", err)
		}
		addrs = append(addrs, onLink...)
	}
	chain, comment := names(c, args.ContainerID)
	var errs []error
	seen := map[string]bool{}
	for _, a := range addrs {
		if a.To4() == nil || seen[a.String()] {
			continue
		}
		seen[a.String()] = true
		errs = append(errs, s.del(a, chain, comment))
	}
	return errors.Join(errs...)
}

// cmdCheck checks what ADD made: the host-local reservation, v4if0 with a
// 169.254.172.x address, and the pod's SNAT chain. (Upstream serves no
// CHECK: its conflist sets disableCheck.)
func cmdCheck(args *skel.CmdArgs) error {
	c, hl, err := loadEnabled(args)
	if err != nil || c == nil {
		return err
	}
	if ok, err := hl.holds(args.ContainerID, args.IfName); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("egress-cni: host-local: Failed to find address added by container %v", args.ContainerID)
	}
	addrs, err := podAddrs(args.Netns, false)
	if err != nil {
		return fmt.Errorf("egress-cni: %w", err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("egress-cni: pod has no %s with a link-local IPv4 address", IPv4IfName)
	}
	s, err := newSNAT()
	if err != nil {
		return err
	}
	chain, _ := names(c, args.ContainerID)
	if ok, err := s.present(chain); err != nil {
		return fmt.Errorf("egress-cni: nat chain %s: %w", chain, err)
	} else if !ok {
		return fmt.Errorf("egress-cni: nat chain %s of the pod is missing", chain)
	}
	return nil
}
