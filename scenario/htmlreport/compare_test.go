package htmlreport

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/scenario"
)

func comparisonOfStubs(t *testing.T) string {
	t.Helper()
	var vs []Variant
	for _, name := range []string{"WARM_IP_TARGET=0", "WARM_IP_TARGET=5"} {
		_, rep, err := stubRun()
		require.NoError(t, err)
		vs = append(vs, Variant{Name: name, Report: rep})
	}
	var buf bytes.Buffer
	require.NoError(t, WriteComparison(&buf, vs))
	return buf.String()
}

// The comparison page has a row per variant and plots with one line per
// variant on shared axes.
func TestWriteComparison(t *testing.T) {
	page := comparisonOfStubs(t)
	rows := tableOf(page, "variants")
	assert.Equal(t, 3, strings.Count(rows, "<tr"), "a header and a row per variant")
	assert.Contains(t, rows, "WARM_IP_TARGET=5")
	got := plots(page)
	for _, kind := range []string{"warm", "held", "latency"} {
		require.Len(t, got[kind], 1, "one %s plot", kind)
		assert.GreaterOrEqual(t, got[kind][0], 2, "a line per variant in the %s plot", kind)
	}
}

// The sum of the nodes' step functions holds each node's latest figure.
func TestSummedNodeSeries(t *testing.T) {
	nodes := []scenario.NodeSeries{
		{Node: "a", Points: []scenario.NodePoint{{LabMs: 0, WarmIPs: 9}, {LabMs: 2000, WarmIPs: 4}}},
		{Node: "b", Points: []scenario.NodePoint{{LabMs: 1000, WarmIPs: 9}}},
	}
	xys := summed(nodes, func(p scenario.NodePoint) int { return p.WarmIPs })
	require.Len(t, xys, 3)
	assert.Equal(t, []float64{9, 18, 13}, []float64{xys[0].Y, xys[1].Y, xys[2].Y})
	assert.Equal(t, 2.0, xys[2].X)
}

// The comparison page as a browser lays it out.
func TestComparisonInChromium(t *testing.T) {
	path := filepath.Join(t.TempDir(), "compare.html")
	require.NoError(t, os.WriteFile(path, []byte(comparisonOfStubs(t)), 0o644))
	checkPlots(t, path, "warm", "held", "latency")
}
