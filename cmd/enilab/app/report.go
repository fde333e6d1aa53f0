package app

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/enilab/enilab/scenario"
)

// report is `enilab report merge FILE...`: the shards' report JSONs (from
// run --report or compare --out) as one report on stdout.
func report(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "merge" {
		return usageErr("report: want `enilab report merge FILE...`")
	}
	files := args[1:]
	if len(files) == 0 {
		return usageErr("report merge: name at least one report JSON file")
	}
	reps := make([]*scenario.Report, 0, len(files))
	for _, file := range files {
		r, err := readReport(file)
		if err != nil {
			return &exitError{code: ExitUsage, err: fmt.Errorf("report merge: %w", err)}
		}
		reps = append(reps, r)
	}
	merged, err := scenario.MergeReports(reps)
	if err != nil {
		return &exitError{code: ExitUsage, err: fmt.Errorf("report merge: %w", err)}
	}
	return merged.WriteJSON(stdout)
}

// readReport reads one report JSON; a newer format version is refused
// rather than merged half-understood.
func readReport(file string) (*scenario.Report, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	var r scenario.Report
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: not an enilab report: %w", file, err)
	}
	if r.Version > scenario.ReportVersion {
		return nil, fmt.Errorf("%s: report format version %d; this enilab reads up to %d", file, r.Version, scenario.ReportVersion)
	}
	return &r, nil
}
