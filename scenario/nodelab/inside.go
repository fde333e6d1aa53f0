package nodelab

import "path/filepath"

// NodeInside is where to look inside one node of a lab: its network
// namespace (`ip netns exec NetNS …`), its logs, and its pods' namespaces.
type NodeInside struct {
	Name       string      `json:"name"`
	InstanceID string      `json:"instanceId"`
	NetNS      string      `json:"netns"`
	NetNSPath  string      `json:"netnsPath"`
	IPAMDLog   string      `json:"ipamdLog"`
	PluginLog  string      `json:"pluginLog"`
	Pods       []PodInside `json:"pods"`
}

// PodInside is one pod's namespace ("" for a rejected pod, which has none).
type PodInside struct {
	Name      string `json:"name"`
	NetNS     string `json:"netns"`
	NetNSPath string `json:"netnsPath"`
}

// Inside lists every node with its namespace, logs and pods, in the
// lab's order.
func (l *scenarioLab) Inside() []NodeInside {
	var out []NodeInside
	for _, nd := range l.lab.Nodes() {
		ni := NodeInside{Name: nd.Name(), InstanceID: nd.InstanceID(), NetNS: nd.NetNSName(), NetNSPath: nd.NetNS(),
			IPAMDLog: nd.IPAMDLogPath(), PluginLog: nd.PluginLogPath(), Pods: []PodInside{}}
		for _, p := range nd.Pods() {
			pi := PodInside{Name: p.Name, NetNSPath: p.NetNS}
			if p.NetNS != "" {
				pi.NetNS = filepath.Base(p.NetNS)
			}
			ni.Pods = append(ni.Pods, pi)
		}
		out = append(out, ni)
	}
	return out
}
