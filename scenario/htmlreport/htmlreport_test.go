package htmlreport

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/scenario"
)

var (
	figureRE = regexp.MustCompile(`(?s)<figure class="plot" data-plot="(\w+)">(.*?)</figure>`)
	pathRE   = regexp.MustCompile(`<path d="([^"]*)" style="fill:none;`)
)

// dataPaths counts the unfilled paths of an SVG that join three points or
// more: the plotted lines (axes, ticks and legend swatches are single
// segments, the background is filled).
func dataPaths(svg string) int {
	n := 0
	for _, m := range pathRE.FindAllStringSubmatch(svg, -1) {
		if strings.Count(m[1], "L") >= 2 {
			n++
		}
	}
	return n
}

// plots maps each plot kind on the page to its figures' data path counts.
func plots(page string) map[string][]int {
	out := map[string][]int{}
	for _, m := range figureRE.FindAllStringSubmatch(page, -1) {
		out[m[1]] = append(out[m[1]], dataPaths(m[2]))
	}
	return out
}

func writeStub(t *testing.T) (string, *scenario.Report) {
	t.Helper()
	sc, rep, err := stubRun()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, rep, sc.Description))
	return buf.String(), rep
}

// The page holds a warm pool plot per node (total, assigned, warm), the
// latency CDF and the EC2 plot (each action's calls, and the throttled
// action's errors and throttles), all inline SVG.
func TestWriteDrawsThePlots(t *testing.T) {
	page, rep := writeStub(t)
	assert.Equal(t, 4, strings.Count(page, "<svg"), "two warm pool plots, latency, EC2")
	got := plots(page)
	assert.Equal(t, []int{3, 3}, got["warm"], "total, assigned and warm IPs per node")
	assert.Equal(t, []int{1}, got["latency"])
	actions := map[string]bool{}
	for _, e := range rep.Series.EC2 {
		actions[e.Action] = true
	}
	assert.Equal(t, len(actions)+2, got["ec2"][0], "each action's calls, and AssignPrivateIpAddresses's errors and throttles")
	assert.Contains(t, page, "Warm pool of node-1")
	assert.NotContains(t, page, "<?xml", "inline SVG has no XML prolog")
	assert.Equal(t, 1, strings.Count(page, "@font-face"), "the plots' one font, held once")
}

// The page names the scenario and its outcome, holds the step and node
// tables, and escapes what came from the scenario file.
func TestWriteTablesAndEscaping(t *testing.T) {
	page, rep := writeStub(t)
	require.True(t, rep.Passed)
	assert.Contains(t, page, "<h1>stub-run</h1>")
	assert.Contains(t, page, `id="verdict">PASSED`)
	assert.Contains(t, page, "Two stub nodes &lt;fill&gt; &amp; drain their pools.")
	assert.Equal(t, 1+len(rep.Steps), strings.Count(tableOf(page, "steps"), "<tr"))
	assert.Equal(t, 1+2, strings.Count(tableOf(page, "nodes"), "<tr"))
	assert.Contains(t, tableOf(page, "nodes"), "<td>node-2</td><td>i-0002</td>")
	bare := strings.NewReplacer(`xmlns:xlink="http://www.w3.org/1999/xlink"`, "", `xmlns="http://www.w3.org/2000/svg"`, "").Replace(page)
	bare = strings.ReplaceAll(bare, "url(data:", "")
	for _, src := range []string{"http://", "https://", "<script", "<link", "url("} {
		assert.False(t, strings.Contains(bare, src), "self-contained: the page has %q", src)
	}
}

// A run that recorded nothing still writes a page, saying what is not
// plotted and why.
func TestWriteEmptyReport(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, &scenario.Report{Scenario: "empty"}, ""))
	assert.NotContains(t, buf.String(), "<svg")
	assert.Contains(t, buf.String(), "Not plotted: pod ready latency: no pod got ready.")
	assert.Contains(t, buf.String(), `id="verdict">FAILED`)
}

func tableOf(page, id string) string {
	_, rest, ok := strings.Cut(page, `<table id="`+id+`">`)
	if !ok {
		return ""
	}
	tbl, _, _ := strings.Cut(rest, "</table>")
	return tbl
}

// A fleet gets a warm pool plot for its first nodes only, and says so.
func TestWriteBoundsNodePlots(t *testing.T) {
	rep := &scenario.Report{Scenario: "fleet"}
	for i := range maxNodePlots + 3 {
		rep.Series.Nodes = append(rep.Series.Nodes, scenario.NodeSeries{Node: fmt.Sprintf("node-%d", i+1),
			Points: []scenario.NodePoint{{LabMs: 0, ENIs: 1, TotalIPs: 9, WarmIPs: 9}, {LabMs: 5000, ENIs: 2, TotalIPs: 18, AssignedIPs: 1, WarmIPs: 17}}})
	}
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, rep, ""))
	assert.Len(t, plots(buf.String())["warm"], maxNodePlots)
	assert.Contains(t, buf.String(), "Not plotted: warm pool: the 3 nodes after the first 12")
}
