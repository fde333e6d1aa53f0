package htmlreport

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"sort"
	"sync"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"

	"github.com/enilab/enilab/scenario"
)

//go:embed compare.html.tmpl
var comparePageSource string

// comparePage is parsed at its first use, as page is.
var comparePage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("compare").Funcs(template.FuncMap{
		"f1": func(v float64) string { return fmt.Sprintf("%.1f", v) },
	}).Parse(comparePageSource))
})

// Variant is one run of a comparison (`enilab compare`).
type Variant struct {
	Name   string
	Report *scenario.Report
}

// compareData is what the comparison page's template reads.
type compareData struct {
	Rows    []scenario.Comparison
	Figures []figure
	Fonts   template.CSS
}

// WriteComparison writes one page comparing the variants: a table of their
// figures, and their warm pools, addresses held and pod ready latencies,
// each on one plot with shared axes.
func WriteComparison(w io.Writer, vs []Variant) error {
	var d compareData
	for _, v := range vs {
		d.Rows = append(d.Rows, scenario.Compare(v.Name, v.Report))
	}
	for _, pl := range []struct {
		kind, title, y string
		get            func(scenario.NodePoint) int
	}{
		{"warm", "Warm IPs of all nodes over time", "warm IPs", func(p scenario.NodePoint) int { return p.WarmIPs }},
		{"held", "IPs held by all nodes over time", "IPs", func(p scenario.NodePoint) int { return p.TotalIPs }},
	} {
		f, err := sumFigure(vs, pl.kind, pl.title, pl.y, pl.get)
		if err != nil {
			return err
		}
		d.Figures = append(d.Figures, f)
	}
	f, err := latencyComparison(vs)
	if err != nil {
		return err
	}
	d.Figures = append(d.Figures, f)
	d.Fonts = fontsOf(d.Figures)
	if err := comparePage().Execute(w, d); err != nil {
		return fmt.Errorf("writing the comparison page: %w", err)
	}
	return nil
}

// sumFigure plots, for every variant, a node figure summed over its nodes
// over lab time.
func sumFigure(vs []Variant, kind, title, y string, get func(scenario.NodePoint) int) (figure, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "lab time (s)"
	p.Y.Label.Text = y
	p.Y.Min = 0
	p.Legend.Top = true
	var end int64
	for _, v := range vs {
		end = max(end, endMs(v.Report))
	}
	for i, v := range vs {
		xys := summed(v.Report.Series.Nodes, get)
		if len(xys) == 0 {
			continue
		}
		xys = append(xys, plotter.XY{X: seconds(end), Y: xys[len(xys)-1].Y})
		if err := addLine(p, v.Name, xys, plotutil.Color(i), plotutil.Dashes(i/len(plotutil.DefaultColors))); err != nil {
			return figure{}, err
		}
	}
	headroom(p)
	return render(kind, title, p)
}

// summed adds the nodes' step functions: at every point of any node, the
// sum of each node's latest figure.
func summed(nodes []scenario.NodeSeries, get func(scenario.NodePoint) int) plotter.XYs {
	var times []int64
	for _, ns := range nodes {
		for _, pt := range ns.Points {
			times = append(times, pt.LabMs)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	times = slices.Compact(times)
	out := make(plotter.XYs, 0, len(times))
	next := make([]int, len(nodes))
	cur := make([]int, len(nodes))
	for _, t := range times {
		total := 0
		for i, ns := range nodes {
			for next[i] < len(ns.Points) && ns.Points[next[i]].LabMs <= t {
				cur[i] = get(ns.Points[next[i]])
				next[i]++
			}
			total += cur[i]
		}
		out = append(out, plotter.XY{X: seconds(t), Y: float64(total)})
	}
	return out
}

// latencyComparison plots every variant's pod ready latency distribution.
func latencyComparison(vs []Variant) (figure, error) {
	p := plot.New()
	title := "Pod ready latency by variant (CDF)"
	p.Title.Text = title
	p.X.Label.Text = "ready latency (lab ms)"
	p.Y.Label.Text = "fraction of ready pods"
	p.X.Min, p.Y.Min, p.Y.Max = 0, 0, 1.3
	p.Legend.Top, p.Legend.Left = true, true
	for i, v := range vs {
		var ms []float64
		for _, it := range v.Report.Pods.Items {
			if it.ReadyLatencyMs > 0 {
				ms = append(ms, float64(it.ReadyLatencyMs))
			}
		}
		if len(ms) == 0 {
			continue
		}
		slices.Sort(ms)
		xys := plotter.XYs{{X: 0, Y: 0}}
		for j, m := range ms {
			xys = append(xys, plotter.XY{X: m, Y: float64(j+1) / float64(len(ms))})
		}
		if err := addLine(p, v.Name, xys, plotutil.Color(i), plotutil.Dashes(i/len(plotutil.DefaultColors))); err != nil {
			return figure{}, err
		}
	}
	return render("latency", title, p)
}
