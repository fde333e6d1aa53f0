package egress

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
)

// Upstream's names (cmd/egress-cni-plugin/netconf.go): the pod's second
// interface for IPv4 egress in an IPv6 cluster.
const (
	// IPv4IfName is the pod's IPv4 egress interface (egressIPv4InterfaceName).
	IPv4IfName = "v4if0"
	// ipv4MulticastRange is never SNAT'd (ipv4MulticastRange).
	ipv4MulticastRange = "224.0.0.0/4"
)

// Conf is the egress-cni entry of the conflist, as upstream's NetConf
// reads it (misc/10-aws.conflist: mtu, enabled, randomizeSNAT and nodeIP
// are strings filled in by aws-node; ipam is host-local's).
type Conf struct {
	types.NetConf
	MTU            string `json:"mtu"`
	Enabled        string `json:"enabled"`
	RandomizeSNAT  string `json:"randomizeSNAT"`
	NodeIP         net.IP `json:"nodeIP"`
	PluginLogFile  string `json:"pluginLogFile"`
	PluginLogLevel string `json:"pluginLogLevel"`

	mtu  int
	prev *types100.Result
}

// parseConf reads the plugin's configuration in upstream's order: an ADD
// (needPrev) needs the previous plugin's result ("must be called as a
// chained plugin") and a numeric MTU even when the plugin is disabled; the
// rest is checked only when it is enabled.
func parseConf(data []byte, needPrev bool) (*Conf, error) {
	c := &Conf{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("egress-cni: failed to parse config: %w", err)
	}
	if c.RawPrevResult != nil {
		if err := version.ParsePrevResult(&c.NetConf); err != nil {
			return nil, fmt.Errorf("egress-cni: could not parse prevResult: %w", err)
		}
	}
	if needPrev {
		if c.PrevResult == nil {
			return nil, fmt.Errorf("egress-cni: must be called as a chained plugin")
		}
		prev, err := types100.GetResult(c.PrevResult)
		if err != nil {
			return nil, fmt.Errorf("egress-cni: failed to get PrevResult: %w", err)
		}
		c.prev = prev
		if c.mtu, err = strconv.Atoi(c.MTU); err != nil {
			return nil, fmt.Errorf("egress-cni: failed to parse MTU: %q: %w", c.MTU, err)
		}
	}
	if !c.enabled() {
		return c, nil
	}
	if c.IPAM.Type != "host-local" {
		return nil, fmt.Errorf("egress-cni: ipam type %q: only host-local is supported", c.IPAM.Type)
	}
	if c.NodeIP.To4() == nil {
		return nil, fmt.Errorf("egress-cni: nodeIP %q is not an IPv4 address (the lab models IPv4 egress of IPv6 pods only)", c.NodeIP)
	}
	return c, nil
}

// enabled is upstream's check: anything but "true" passes the previous
// result through untouched.
func (c *Conf) enabled() bool { return c.Enabled == "true" }
