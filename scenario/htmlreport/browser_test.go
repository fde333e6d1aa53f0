package htmlreport

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium is Debian's Chromium, which scripts/setup.sh installs.
const chromium = "/usr/bin/chromium"

// plotInfo is what the browser sees of one plot.
type plotInfo struct {
	Kind      string  `json:"kind"`
	Width     float64 `json:"width"`
	Height    float64 `json:"height"`
	DataPaths int     `json:"dataPaths"`
}

// plotsJS measures every plot as laid out: its drawn size, and its data
// lines (unfilled paths joining three points or more, with a length).
const plotsJS = `[...document.querySelectorAll('figure.plot')].map(f => {
	const s = f.querySelector('svg');
	const r = s.getBoundingClientRect();
	const data = [...s.querySelectorAll('path')].filter(p =>
		(p.getAttribute('style') || '').startsWith('fill:none') &&
		(p.getAttribute('d').match(/L/g) || []).length >= 2 &&
		p.getTotalLength() > 0).length;
	return {kind: f.dataset.plot, width: r.width, height: r.height, dataPaths: data};
})`

// artifactDir is where a test leaves its screenshots: $ENILAB_ARTIFACTS
// (make sets bin/artifacts) or the test's temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ENILAB_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// openInChromium opens the HTML file in headless Chromium, returns its plots
// as laid out and a full-page PNG screenshot. The flags keep Chromium off
// the network: on a closed network it otherwise waits on connections.
func openInChromium(t *testing.T, htmlPath string) ([]plotInfo, []byte) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("no headless browser: %s is missing (scripts/setup.sh installs Debian's chromium)", chromium)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium keeps its singleton socket in a directory of its own
		// under TMPDIR, which a killed browser leaves behind.
		chromedp.Env("TMPDIR=" + t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	abs, err := filepath.Abs(htmlPath)
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate("file://"+abs), chromedp.WaitVisible(chromedp.CSS("h1"))), "opening the page in %s", chromium)
	plots, err := chromedp.Run(bctx, chromedp.Evaluate[[]plotInfo](plotsJS))
	require.NoError(t, err, "measuring the plots")
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	require.NoError(t, err, "taking the screenshot")
	return plots, shot
}

// checkPage opens the page in Chromium, checks that the three kinds of plot
// are drawn with a size and data lines, and leaves the screenshot in the
// artifacts, checking it is not blank.
func checkPage(t *testing.T, htmlPath string) {
	checkPlots(t, htmlPath, "warm", "latency", "ec2")
}

// checkPlots is checkPage for a page with the given kinds of plot.
func checkPlots(t *testing.T, htmlPath string, want ...string) {
	t.Helper()
	plots, shot := openInChromium(t, htmlPath)
	kinds := map[string]int{}
	for _, p := range plots {
		assert.Greater(t, p.Width, 100.0, "%s plot width", p.Kind)
		assert.Greater(t, p.Height, 50.0, "%s plot height", p.Kind)
		assert.Positive(t, p.DataPaths, "%s plot has data lines", p.Kind)
		kinds[p.Kind]++
	}
	for _, k := range want {
		assert.Positive(t, kinds[k], "a %s plot on the page (got %v)", k, kinds)
	}

	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()) + ".png"
	out := filepath.Join(artifactDir(t), name)
	require.NoError(t, os.WriteFile(out, shot, 0o644))
	t.Logf("screenshot: %s", out)
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err, "the screenshot is a PNG")
	colours, inked := paint(img)
	assert.Greater(t, colours, 64, "distinct colours in the screenshot: a blank page has one")
	assert.Greater(t, inked, 0.02, "share of the page that is not white")
}

// paint counts an image's distinct colours and the share of its pixels that
// are not white.
func paint(img image.Image) (colours int, inked float64) {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				n++
			}
		}
	}
	return len(seen), float64(n) / float64(b.Dx()*b.Dy())
}

// The page of a run on the stub lab, as a browser lays it out.
func TestStubReportInChromium(t *testing.T) {
	sc, rep, err := stubRun()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, Write(f, rep, sc.Description))
	require.NoError(t, f.Close())
	checkPage(t, path)
}
