package node

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An egress-cni binary without host-local beside it is refused up front:
// upstream's egress plugin executes host-local from the node's bin
// directory, so every ADD would fail otherwise.
func TestSpecRefusesEgressPluginWithoutHostLocal(t *testing.T) {
	dir := t.TempDir()
	egress := filepath.Join(dir, "egress-cni")
	require.NoError(t, os.WriteFile(egress, []byte("#!/bin/sh\n"), 0o755))
	spec := Spec{Name: "node-1", InstanceType: "m5.large", EgressPluginPath: egress}
	err := spec.Validate()
	require.Error(t, err)
	assert.ErrorContains(t, err, "egressPluginPath: host-local beside "+egress)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "host-local"), []byte("#!/bin/sh\n"), 0o755))
	assert.NoError(t, spec.Validate())
}

// The egress-cni entry chained after aws-cni in IPv6 mode carries the
// values aws-node writes into upstream's misc/10-aws.conflist in an IPv6
// cluster (cmd/aws-vpc-cni/main.go), and the node's view puts its
// host-local store at upstream's /run/cni/v6pd.
func TestEgressEntryAsUpstreamConflistInIPv6Mode(t *testing.T) {
	b, err := json.Marshal(egressPluginEntry(9001, "prng", netip.MustParseAddr("10.0.1.10")))
	require.NoError(t, err)
	var e map[string]any
	require.NoError(t, json.Unmarshal(b, &e))
	assert.Equal(t, "egress-cni", e["type"])
	assert.Equal(t, "9001", e["mtu"])
	assert.Equal(t, "true", e["enabled"])
	assert.Equal(t, "prng", e["randomizeSNAT"])
	assert.Equal(t, "10.0.1.10", e["nodeIP"])
	assert.Equal(t, map[string]any{
		"type":    "host-local",
		"ranges":  []any{[]any{map[string]any{"subnet": "169.254.172.0/22"}}},
		"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
		"dataDir": "/run/cni/v6pd/egress-v4-ipam",
	}, e["ipam"])
	assert.Equal(t, "/var/log/aws-routed-eni/egress-v4-plugin.log", e["pluginLogFile"])

	n := &Node{dir: "/lab/node-1", runDir: "/dev/shm/lab/node-1"}
	assert.Equal(t, []bindMount{{AWSNodeRunDir, "/dev/shm/lab/node-1"}, {AWSNodeLogDir, "/lab/node-1"}}, n.viewBinds(),
		"IPv4 mode binds nothing at /run/cni/v6pd")
	n.ipamdCfg.EnableIPv6 = true
	assert.Contains(t, n.viewBinds(), bindMount{"/run/cni/v6pd", "/dev/shm/lab/node-1/cni-v6pd"},
		"the store is the node's (in its run directory, a tmpfs as a node's /run), never the machine's /run/cni")
}
