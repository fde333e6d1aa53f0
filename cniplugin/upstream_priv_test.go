package cniplugin

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
)

// upstreamResult is an ADD result exactly as upstream's plugin prints it
// (cmd/routed-eni-cni-plugin/cni.go add): no MACs, the route table id in
// the pod interface's mac, the dummy interface last, no gateway, no routes.
func upstreamResult(pod, podPath string, ip netip.Addr, table, device int) string {
	return fmt.Sprintf(`{"cniVersion":"1.0.0","interfaces":[{"name":%q},{"name":"eth0","mac":"%d","sandbox":%q},`+
		`{"name":%q,"mac":"0","sandbox":"%d"}],"ips":[{"interface":1,"address":"%s/32"}],"dns":{}}`,
		datapath.HostVethName("eni", "default", pod), table, podPath,
		datapath.HostVethName(datapath.DummyPrefix, "default", pod), device, ip)
}

// replaceCachedResult swaps libcni's cached ADD result for raw, so CHECK
// and DEL get it as prevResult.
func (n *testNode) replaceCachedResult(t *testing.T, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf, raw string) {
	t.Helper()
	path := filepath.Join(n.cacheDir, "results", list.Name+"-"+rt.ContainerID+"-"+rt.IfName)
	data, err := os.ReadFile(path)
	require.NoError(t, err, "libcni cache entry")
	var entry map[string]any
	require.NoError(t, json.Unmarshal(data, &entry))
	entry["result"] = json.RawMessage(raw)
	data, err = json.Marshal(entry)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o600))
}

// TestCheckAndDelOfUpstreamPrevResult: CHECK accepts a pod whose prevResult
// the upstream plugin made, learning the table from the pod interface's mac
// (the plugin's own records are gone); with ipamd down, DEL removes the
// pod's rules and route from that prevResult and succeeds, as upstream's
// teardownPodNetworkWithPrevResult / TeardownPodNetwork do.
func TestCheckAndDelOfUpstreamPrevResult(t *testing.T) {
	n := newTestNode(t)
	ipamd := newFakeIPAMD(t, n.socket, newFakePools())
	ipamd.setDevice(1)
	list := n.confList(t, "1.0.0", nil)
	pod, podPath := n.newPod(t)
	rt := runtimeConf(pod, podPath)
	_, ip := n.addIPv4(t, list, rt)

	n.replaceCachedResult(t, list, rt, upstreamResult(pod, podPath, ip, eni1Table, 1))
	require.NoError(t, os.RemoveAll(n.stateDir), "only prevResult is left to go by")
	require.NoError(t, n.check(list, rt), "CHECK of an upstream-made prevResult")

	require.NoError(t, n.h.RuleDel(kernel.FromPodRule(ip, eni1Table)))
	err := n.check(list, rt)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf(`rule "from %v lookup %d" (priority 1536) is missing`, ip, eni1Table),
		"the table came from the pod interface's mac")
	require.NoError(t, n.h.RuleAdd(kernel.FromPodRule(ip, eni1Table)))
	n.replaceCachedResult(t, list, rt, upstreamResult(pod, podPath, ip, 7, 1))
	err = n.check(list, rt)
	require.Error(t, err, "a prevResult naming table 7 does not match the pod's table 2")
	assert.Contains(t, err.Error(), fmt.Sprintf(`rule "from %v lookup 7" (priority 1536) is missing`, ip))
	n.replaceCachedResult(t, list, rt, upstreamResult(pod, podPath, ip, eni1Table, 1))

	ipamd.stop()
	require.NoError(t, n.del(list, rt), "DEL succeeds with ipamd down")
	assert.Zero(t, n.countPodRules(t, ip, datapath.ToPodRulePriority), "512 rule removed from prevResult")
	assert.Zero(t, n.countPodRules(t, ip, datapath.FromPodRulePriority), "1536 rule removed from prevResult")
	n.assertTornDown(t, podPath, pod, ip)
}

// TestDelOfPodUnknownToIPAMD: ipamd answers DEL of a pod it does not hold
// with upstream's "datastore: unknown pod"; DEL succeeds and, as upstream's
// del, leaves the node untouched.
func TestDelOfPodUnknownToIPAMD(t *testing.T) {
	n := newTestNode(t)
	ipamd := newFakeIPAMD(t, n.socket, newFakePools())
	ipamd.setDevice(1)
	list := n.confList(t, "1.0.0", nil)
	pod, podPath := n.newPod(t)
	rt := runtimeConf(pod, podPath)
	_, ip := n.addIPv4(t, list, rt)

	ipamd.forget()
	require.NoError(t, n.del(list, rt), "DEL of a pod ipamd does not know")
	assert.Equal(t, 1, n.countRules(t, kernel.ToPodRule(ip)), "upstream leaves the 512 rule to ipamd's clean-up")
	assert.Equal(t, 1, n.countRules(t, kernel.FromPodRule(ip, eni1Table)), "and the 1536 rule")
}
