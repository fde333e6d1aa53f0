package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/scenario"
	"github.com/enilab/enilab/scenario/htmlreport"
)

type compareFlags struct {
	jobs      int
	html, dir string
	seed      int64
	seedSet   bool
	shard     shard
}

func compareFlagSet(f *compareFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("enilab compare", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&f.jobs, "jobs", runtime.NumCPU(), "run at most this many variants at once")
	fs.StringVar(&f.html, "html", "", "write one HTML page with every variant's warm pool and latency on shared axes")
	fs.StringVar(&f.dir, "out", "", "write each variant's timeline, report JSON and HTML into this directory")
	fs.Var(&f.shard, "shard", "run only variants i, i+n, i+2n… of the list (0-based i/n, e.g. $JOB_COMPLETION_INDEX/4); merge the shards' --out reports with enilab report merge")
	fs.Func("seed", "run every variant with this seed (default: each file's own)", func(s string) error {
		_, err := fmt.Sscan(s, &f.seed)
		f.seedSet = err == nil
		return err
	})
	return fs
}

// variantRun is one variant's outcome.
type variantRun struct {
	// idx is the variant's place in the full list (--shard runs a part).
	idx      int
	v        scenario.Variant
	rep      *scenario.Report
	err      error
	timeline bytes.Buffer
	took     time.Duration
}

// compare runs every variant of the files (each file's matrix, or the file
// itself) with the same workload, then prints one table of their figures.
func (c CLI) compare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f compareFlags
	files, err := parseInterleaved(compareFlagSet(&f), args)
	if err != nil {
		return usageErr("compare: %v", err)
	}
	if len(files) == 0 {
		return usageErr("compare: name at least one scenario file (two files, or one with a matrix:)")
	}
	if f.jobs < 1 {
		return usageErr("compare: --jobs wants at least 1, got %d", f.jobs)
	}
	variants, err := loadVariants(files, stderr)
	if err != nil {
		return err
	}
	if len(variants) < 2 {
		return usageErr("compare: %s gives one variant; name two files, or give the file a matrix:", files[0])
	}
	seedNote(variants, f, stderr)
	for i := range variants {
		if !f.shard.picks(i) {
			variants[i].Scenario = nil // runVariants skips it
		}
	}
	if c.NeedRoot && !nsutil.IsRoot() {
		return &exitError{code: ExitLab, err: errors.New("compare needs root: each variant is a lab made of network namespaces")}
	}
	if f.dir != "" {
		if err := os.MkdirAll(f.dir, 0o755); err != nil {
			return usageErr("compare: --out: %v", err)
		}
	}
	runs := c.runVariants(ctx, variants, f.jobs, stdout)
	runs = shardRuns(runs, f.shard, stdout)
	printComparison(stdout, runs)
	if err := writeCompareFiles(f, runs); err != nil {
		fmt.Fprintf(stderr, "enilab: %v\n", err)
		return &exitError{code: ExitLab, err: err, quiet: true}
	}
	return compareExit(runs)
}

// loadVariants reads every file's variants, naming each after its file
// when several files are compared.
func loadVariants(files []string, stderr io.Writer) ([]scenario.Variant, error) {
	var out []scenario.Variant
	for _, file := range files {
		vs, err := scenario.LoadVariants(file)
		if err != nil {
			var probs scenario.Problems
			if errors.As(err, &probs) {
				printProblems(stderr, file, probs)
				return nil, &exitError{code: ExitUsage, err: err, quiet: true}
			}
			return nil, &exitError{code: ExitUsage, err: err}
		}
		printWarnings(stderr, variantWarnings(vs))
		for _, v := range vs {
			if len(files) > 1 && len(vs) > 1 {
				v.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)) + " " + v.Name
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// seedNote sets --seed on every variant, or says when the variants' own
// seeds differ (their figures then differ by chance too).
func seedNote(vs []scenario.Variant, f compareFlags, stderr io.Writer) {
	seeds := map[int64]bool{}
	for _, v := range vs {
		if f.seedSet {
			v.Scenario.Seed = f.seed
		}
		seeds[v.Scenario.Seed] = true
	}
	if len(seeds) > 1 {
		fmt.Fprintf(stderr, "note: the variants have different seeds; pass --seed N to compare like with like\n")
	}
}

// runVariants runs the variants, at most jobs at once, printing a line as
// each ends; their timelines are kept for --out.
func (c CLI) runVariants(ctx context.Context, vs []scenario.Variant, jobs int, stdout io.Writer) []*variantRun {
	runs := make([]*variantRun, len(vs))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, v := range vs {
		r := &variantRun{idx: i, v: v}
		runs[i] = r
		if v.Scenario == nil {
			continue // another shard's
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			r.rep, r.err = scenario.Run(ctx, v.Scenario, scenario.Options{Out: &r.timeline, NewLab: c.NewLab, Verbosity: scenario.Quiet})
			r.took = time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stdout, "%s %s (real %s)\n", verdict(r), v.Name, r.took.Round(100*time.Millisecond))
		})
	}
	wg.Wait()
	return runs
}

func verdict(r *variantRun) string {
	switch {
	case r.err == nil:
		return "✓ passed"
	case errors.As(r.err, new(*scenario.Failed)):
		return "✗ failed"
	case errors.Is(r.err, scenario.ErrInterrupted):
		return "✗ interrupted"
	}
	return "✗ lab error: " + r.err.Error() + ":"
}

// printComparison prints one row per variant.
func printComparison(w io.Writer, runs []*variantRun) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nVARIANT\tRESULT\tIPS/NODE\tWARM/NODE\tSUBNET USED\tEC2 CALLS\tTHROTTLED\tREADY P50\tP90\tP99\tFAILED STEPS")
	for _, r := range runs {
		if r.rep == nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\n", r.v.Name, verdict(r))
			continue
		}
		c := scenario.Compare(r.v.Name, r.rep)
		result := "passed"
		if !c.Passed {
			result = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%d\t%d\t%d\t%s\t%s\t%s\t%d\n", c.Variant, result, c.IPsPerNode, c.WarmPerNode,
			c.SubnetUsed, c.EC2Calls, c.Throttled, ms(c.Ready.P50), ms(c.Ready.P90), ms(c.Ready.P99), c.FailedSteps)
	}
	tw.Flush()
}

func ms(v int64) string {
	if v == 0 {
		return "-"
	}
	return (time.Duration(v) * time.Millisecond).String()
}

// writeCompareFiles writes --html and --out.
func writeCompareFiles(f compareFlags, runs []*variantRun) error {
	var named []htmlreport.Variant
	for _, r := range runs {
		if r.rep == nil {
			continue
		}
		named = append(named, htmlreport.Variant{Name: r.v.Name, Report: r.rep})
		if f.dir == "" {
			continue
		}
		base := filepath.Join(f.dir, fmt.Sprintf("variant-%02d", r.idx+1))
		if err := os.WriteFile(base+".timeline.txt", r.timeline.Bytes(), 0o644); err != nil {
			return fmt.Errorf("compare --out: %w", err)
		}
		if err := writeReport(base+".json", r.rep); err != nil {
			return fmt.Errorf("compare --out: %w", err)
		}
	}
	if f.html == "" {
		return nil
	}
	out, err := os.Create(f.html)
	if err != nil {
		return fmt.Errorf("compare --html: %w", err)
	}
	if err := htmlreport.WriteComparison(out, named); err != nil {
		out.Close()
		return fmt.Errorf("compare --html: %w", err)
	}
	return out.Close()
}

// compareExit is the worst outcome: interrupted, then a lab error, then a
// failed variant.
func compareExit(runs []*variantRun) error {
	var failed []string
	for _, r := range runs {
		if errors.Is(r.err, scenario.ErrInterrupted) {
			return runExit(r.err)
		}
	}
	for _, r := range runs {
		if r.err != nil && !errors.As(r.err, new(*scenario.Failed)) {
			return &exitError{code: ExitLab, err: fmt.Errorf("variant %s: %w", r.v.Name, r.err)}
		}
		if r.err != nil {
			failed = append(failed, r.v.Name)
		}
	}
	if len(failed) > 0 {
		return &exitError{code: ExitFailed, err: fmt.Errorf("%d of %d variants failed: %s", len(failed), len(runs), strings.Join(failed, "; "))}
	}
	return nil
}
