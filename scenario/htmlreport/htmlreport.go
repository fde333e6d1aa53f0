// Package htmlreport writes a run's report as one self-contained HTML page
// (`enilab run --html FILE`): the scenario's name, description and outcome,
// the step, node, subnet and pod tables, and plots of the warm pool of every
// node over time, the pods' ready latency and the EC2 requests per second
// by action. The plots are drawn with gonum.org/v1/plot as SVG and inlined,
// with the style sheet: the page fetches nothing.
package htmlreport

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/enilab/enilab/scenario"
)

//go:embed page.html.tmpl
var pageSource string

// page is parsed at its first use, not at the start of every program that
// links the report (a lab's re-executed plugin among them).
var page = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Funcs(template.FuncMap{
		"seconds": func(ms int64) string { return fmt.Sprintf("%.1f s", seconds(ms)) },
		"sorted":  sortedCounts,
	}).Parse(pageSource))
})

// data is what the page template reads.
type data struct {
	Report      *scenario.Report
	Description string
	Failed      int
	Figures     []figure
	// Fonts holds the plots' fonts, each once.
	Fonts template.CSS
	// Missing says which plots are left out and why.
	Missing []string
}

// Write writes the report as HTML to w; description is the scenario's
// `description:` ("" for none).
func Write(w io.Writer, rep *scenario.Report, description string) error {
	d := data{Report: rep, Description: description}
	for _, s := range rep.Steps {
		if !s.OK {
			d.Failed++
		}
	}
	if err := d.addFigures(); err != nil {
		return err
	}
	d.Fonts = fontsOf(d.Figures)
	if err := page().Execute(w, d); err != nil {
		return fmt.Errorf("writing the HTML report: %w", err)
	}
	return nil
}

// maxNodePlots bounds the warm pool plots of a large fleet; the CSV has
// every node.
const maxNodePlots = 12

// addFigures draws one warm pool plot per node, then the latency and EC2
// plots, noting any left out for want of data.
func (d *data) addFigures() error {
	rep := d.Report
	end := endMs(rep)
	for i, ns := range rep.Series.Nodes {
		if i == maxNodePlots {
			d.Missing = append(d.Missing, fmt.Sprintf("warm pool: the %d nodes after the first %d (the report's series and --csv have them)", len(rep.Series.Nodes)-maxNodePlots, maxNodePlots))
			break
		}
		if len(ns.Points) == 0 {
			continue
		}
		f, err := warmFigure(ns, end)
		if err != nil {
			return err
		}
		d.Figures = append(d.Figures, f)
	}
	if len(rep.Series.Nodes) == 0 {
		d.Missing = append(d.Missing, "warm pool: no node figures were recorded")
	}
	f, ok, err := latencyFigure(rep.Pods.Items, rep.Pods.ReadyLatencyMs)
	if err != nil {
		return err
	}
	if ok {
		d.Figures = append(d.Figures, f)
	} else {
		d.Missing = append(d.Missing, "pod ready latency: no pod got ready")
	}
	f, ok, err = ec2Figure(rep.Series.EC2, end)
	if err != nil {
		return err
	}
	if ok {
		d.Figures = append(d.Figures, f)
	} else {
		d.Missing = append(d.Missing, "EC2 requests: none were counted")
	}
	return nil
}

// endMs is the lab time the run was last seen at: its last step or point.
func endMs(rep *scenario.Report) int64 {
	var end int64
	for _, s := range rep.Steps {
		end = max(end, s.LabMs)
	}
	for _, ns := range rep.Series.Nodes {
		for _, p := range ns.Points {
			end = max(end, p.LabMs)
		}
	}
	return end
}

type count struct {
	Name string
	N    int
}

// sortedCounts lists a counter map by name.
func sortedCounts(m map[string]int) []count {
	out := make([]count, 0, len(m))
	for k, v := range m {
		out = append(out, count{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// fontsOf is the @font-face rules of the figures' fonts, each once.
func fontsOf(figs []figure) template.CSS {
	var fonts []string
	for _, f := range figs {
		for _, ff := range f.fonts {
			if !slices.Contains(fonts, ff) {
				fonts = append(fonts, ff)
			}
		}
	}
	return template.CSS(strings.Join(fonts, "\n")) // #nosec: gonum's own fonts as data URIs
}
