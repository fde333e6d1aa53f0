package htmlreport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/cniplugin/multicall"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
	"github.com/enilab/enilab/scenario/nodelab"
	"github.com/enilab/enilab/scenarios"
)

// TestMain builds the lab's own plugins for the labs of these tests
// (node.RunWithOwnPlugins); without them a lab re-executes the test
// binary under the name aws-cni.
func TestMain(m *testing.M) {
	multicall.RunIfPlugin()
	os.Exit(node.RunWithOwnPlugins(m.Run))
}

// runBuiltin runs a built-in scenario on a real lab and checks that the lab
// leaves nothing behind.
func runBuiltin(t *testing.T, name string) (*scenario.Scenario, *scenario.Report) {
	t.Helper()
	if !nsutil.IsRoot() {
		t.Skip("needs root: a lab is made of network namespaces")
	}
	b, ok := scenarios.Lookup(name)
	require.True(t, ok, name)
	sc, err := scenario.Parse(name+".yaml", b.Source)
	require.NoError(t, err)
	rb := make([]byte, 3)
	_, _ = rand.Read(rb)
	prefix := "enlt-html-" + hex.EncodeToString(rb)
	t.Cleanup(func() {
		left, err := node.Leftovers(prefix)
		assert.NoError(t, err)
		assert.Empty(t, left, "left behind by lab %s", prefix)
		if len(left) > 0 {
			_ = node.Sweep(prefix)
		}
	})
	var out bytes.Buffer
	rep, err := scenario.Run(context.Background(), sc, scenario.Options{Out: &out, NewLab: nodelab.New, Lab: scenario.LabOptions{Prefix: prefix}})
	require.NoError(t, err, out.String())
	return sc, rep
}

// The acceptance run: subnet-exhaustion on a real lab. Its series shows
// node-2's seven pods pending and CreateNetworkInterface failing
// (InsufficientFreeAddressesInSubnet, ipamd's tryAllocateENI retries); its
// HTML report opens in Chromium with the three kinds of plot drawn.
func TestSubnetExhaustionReportInChromium(t *testing.T) {
	sc, rep := runBuiltin(t, "subnet-exhaustion")
	require.Len(t, rep.Series.Nodes, 2)
	n2 := rep.Series.Nodes[1].Points
	last := n2[len(n2)-1]
	assert.Equal(t, [2]int{9, 7}, [2]int{last.ReadyPods, last.PendingPods}, "node-2's series ends with 9 pods ready, 7 waiting for addresses")
	assert.Greater(t, len(n2), 2, "node-2's series has a point at each change")
	cni := scenario.ActionCounts{}
	for _, e := range rep.Series.EC2 {
		if e.Action == "CreateNetworkInterface" {
			cni.Calls, cni.Errors = cni.Calls+e.Calls, cni.Errors+e.Errors
		}
	}
	assert.GreaterOrEqual(t, cni.Errors, 4, "the failed ENI creations, second by second")
	assert.Equal(t, rep.EC2.Calls["CreateNetworkInterface"], cni.Calls, "every call in the series once")

	dir := artifactDir(t)
	path := filepath.Join(dir, "subnet-exhaustion.html")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, Write(f, rep, sc.Description))
	require.NoError(t, f.Close())
	require.NoError(t, rep.WriteCSV(filepath.Join(dir, "subnet-exhaustion-csv")))
	t.Logf("HTML report: %s", path)
	checkPage(t, path)
}
