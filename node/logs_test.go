package node

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each node keeps ipamd's log (JSON lines) and the plugin's (a line per
// CNI command) in files under the lab's directory, as a node keeps them
// under /var/log/aws-routed-eni.
func TestNodeLogFiles(t *testing.T) {
	l := churnLab(t)
	ctx := context.Background()
	n, err := l.AddNode(ctx, Spec{Name: "node-1", InstanceType: "c5.large"})
	require.NoError(t, err)
	require.NoError(t, n.AddPods(ctx, 2))
	waitAllReady(t, map[*Node]int{n: 2})

	assert.True(t, strings.HasPrefix(n.IPAMDLogPath(), l.Dir()), n.IPAMDLogPath())
	f, err := os.Open(n.IPAMDLogPath())
	require.NoError(t, err)
	defer f.Close()
	var msgs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct{ Level, Msg string }
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), "%s", sc.Text())
		msgs = append(msgs, line.Msg)
	}
	assert.Contains(t, strings.Join(msgs, "\n"), "Send AddNetworkReply", "ipamd's gRPC answers are in ipamd.log")

	plugin, err := os.ReadFile(n.PluginLogPath())
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(string(plugin), `msg="ADD done"`), "%s", plugin)
}
