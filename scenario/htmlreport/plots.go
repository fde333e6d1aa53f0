package htmlreport

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/enilab/enilab/scenario"
)

// The size of every plot.
const (
	plotWidth  = 24 * vg.Centimeter
	plotHeight = 9 * vg.Centimeter
)

// figure is one plot on the page: Kind names the plot for the page's
// readers (warm, latency, ec2), SVG is the inline drawing and fonts the
// @font-face rules of the fonts it uses, which the page holds once.
type figure struct {
	Kind, Title string
	SVG         template.HTML
	fonts       []string
}

// warmFigure plots a node's warm pool: total, assigned and warm IPs over lab
// time, each held until its next point and drawn on to endMs.
func warmFigure(ns scenario.NodeSeries, endMs int64) (figure, error) {
	p := plot.New()
	title := "Warm pool of " + ns.Node
	p.Title.Text = title
	p.X.Label.Text = "lab time (s)"
	p.Y.Label.Text = "IPs"
	p.Y.Min = 0
	p.Legend.Top = true
	for i, f := range []struct {
		name string
		get  func(scenario.NodePoint) int
	}{
		{"total IPs", func(p scenario.NodePoint) int { return p.TotalIPs }},
		{"assigned IPs", func(p scenario.NodePoint) int { return p.AssignedIPs }},
		{"warm IPs", func(p scenario.NodePoint) int { return p.WarmIPs }},
	} {
		xys := make(plotter.XYs, 0, len(ns.Points)+1)
		for _, pt := range ns.Points {
			xys = append(xys, plotter.XY{X: seconds(pt.LabMs), Y: float64(f.get(pt))})
		}
		if last := ns.Points[len(ns.Points)-1]; endMs > last.LabMs {
			xys = append(xys, plotter.XY{X: seconds(endMs), Y: float64(f.get(last))})
		}
		if err := addLine(p, f.name, xys, plotutil.Color(i), nil); err != nil {
			return figure{}, err
		}
	}
	headroom(p)
	return render("warm", title, p)
}

// latencyFigure plots the cumulative distribution of the ready pods' ready
// latencies.
func latencyFigure(items []scenario.PodReport, pct scenario.Percentiles) (figure, bool, error) {
	var ms []float64
	for _, it := range items {
		if it.ReadyLatencyMs > 0 {
			ms = append(ms, float64(it.ReadyLatencyMs))
		}
	}
	if len(ms) == 0 {
		return figure{}, false, nil
	}
	slices.Sort(ms)
	p := plot.New()
	title := fmt.Sprintf("Pod ready latency (%d pods; p50 %d ms, p90 %d ms, max %d ms)", len(ms), pct.P50, pct.P90, pct.Max)
	p.Title.Text = title
	p.X.Label.Text = "ready latency (lab ms)"
	p.Y.Label.Text = "fraction of ready pods"
	p.X.Min, p.Y.Min, p.Y.Max = 0, 0, 1
	p.Legend.Top, p.Legend.Left = true, true
	xys := plotter.XYs{{X: 0, Y: 0}}
	for i, v := range ms {
		xys = append(xys, plotter.XY{X: v, Y: float64(i+1) / float64(len(ms))})
	}
	if err := addLine(p, "ready pods (CDF)", xys, plotutil.Color(0), nil); err != nil {
		return figure{}, false, err
	}
	f, err := render("latency", title, p)
	return f, true, err
}

// ec2Figure plots every action's calls per lab second (solid), and its
// error answers (dashed) and throttles (dotted) when it had any, from
// second 0 to the run's end.
func ec2Figure(rows []scenario.EC2Second, endMs int64) (figure, bool, error) {
	if len(rows) == 0 {
		return figure{}, false, nil
	}
	last := endMs / 1000
	var actions []string
	for _, r := range rows {
		last = max(last, r.Second)
		if !slices.Contains(actions, r.Action) {
			actions = append(actions, r.Action)
		}
	}
	p := plot.New()
	title := "EC2 calls, errors and throttles per lab second, by action"
	p.Title.Text = title
	p.X.Label.Text = "lab time (s)"
	p.Y.Label.Text = "requests per second"
	p.Y.Min = 0
	p.Legend.Top = true
	for i, a := range actions {
		calls, errs, thr := make(plotter.XYs, last+1), make(plotter.XYs, last+1), make(plotter.XYs, last+1)
		var anyErr, anyThr bool
		for s := range calls {
			calls[s].X, errs[s].X, thr[s].X = float64(s), float64(s), float64(s)
		}
		for _, r := range rows {
			if r.Action == a {
				calls[r.Second].Y, errs[r.Second].Y, thr[r.Second].Y = float64(r.Calls), float64(r.Errors), float64(r.Throttles)
				anyErr, anyThr = anyErr || r.Errors > 0, anyThr || r.Throttles > 0
			}
		}
		c := plotutil.Color(i)
		if err := addLine(p, a, calls, c, nil); err != nil {
			return figure{}, false, err
		}
		if err := addIf(anyErr, p, a+" errors", errs, c, []vg.Length{vg.Points(6), vg.Points(3)}); err != nil {
			return figure{}, false, err
		}
		if err := addIf(anyThr, p, a+" throttles", thr, c, []vg.Length{vg.Points(1), vg.Points(2)}); err != nil {
			return figure{}, false, err
		}
	}
	headroom(p)
	f, err := render("ec2", title, p)
	return f, true, err
}

// headroom raises the top of the y axis by a third so the legend, top
// right, sits above the lines.
func headroom(p *plot.Plot) {
	p.Y.Max = p.Y.Max*4/3 + 1
}

func addIf(cond bool, p *plot.Plot, name string, xys plotter.XYs, c color.Color, dashes []vg.Length) error {
	if !cond {
		return nil
	}
	return addLine(p, name, xys, c, dashes)
}

// addLine adds a step line (a value holds until the next point) with its
// legend entry.
func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dashes []vg.Length) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("plotting %s: %w", name, err)
	}
	l.StepStyle = plotter.PostStep
	l.Color = c
	l.Width = vg.Points(1.5)
	l.Dashes = dashes
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// render draws the plot as an SVG element for inlining: without the XML
// prolog and generator comment a standalone file would have, and with its
// embedded fonts (the text is laid out with their metrics, so a browser must
// draw it with the same fonts) taken out for the page to hold once.
func render(kind, title string, p *plot.Plot) (figure, error) {
	c := vgsvg.NewWith(vgsvg.UseWH(plotWidth, plotHeight), vgsvg.EmbedFonts(true))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return figure{}, fmt.Errorf("drawing %q: %w", title, err)
	}
	svg := buf.String()
	if i := strings.Index(svg, "<svg"); i >= 0 {
		svg = svg[i:]
	}
	f := figure{Kind: kind, Title: title}
	if start, end := strings.Index(svg, "<defs>"), strings.Index(svg, "</defs>"); start >= 0 && end > start {
		f.fonts = fontFaces(svg[start:end])
		svg = svg[:start] + svg[end+len("</defs>"):]
	}
	f.SVG = template.HTML(svg) // #nosec: drawn here, text escaped by svgo
	return f, nil
}

// fontFaces splits a style sheet of @font-face rules into its rules.
func fontFaces(defs string) []string {
	var out []string
	for _, part := range strings.Split(defs, "@font-face")[1:] {
		rule, _, _ := strings.Cut(part, "}")
		out = append(out, "@font-face"+strings.TrimSpace(rule)+"}")
	}
	return out
}

func seconds(ms int64) float64 { return float64(ms) / 1000 }
