package app

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/enilab/enilab/scenario"
	"github.com/enilab/enilab/scenario/htmlreport"
)

// checkSeriesPaths refuses, before the lab is built, a --csv directory that
// cannot be made or an --html file in a directory that does not exist.
func (f runFlags) checkSeriesPaths() error {
	if f.csv != "" {
		if err := os.MkdirAll(f.csv, 0o755); err != nil {
			return &exitError{code: ExitUsage, err: fmt.Errorf("--csv: %w", err)}
		}
	}
	if f.html != "" {
		if st, err := os.Stat(filepath.Dir(f.html)); err != nil || !st.IsDir() {
			return &exitError{code: ExitUsage, err: fmt.Errorf("--html: %s is not a directory", filepath.Dir(f.html))}
		}
	}
	return nil
}

// writeSeries writes --csv and --html from the report, saying where; a
// failure is printed and returned.
func (f runFlags) writeSeries(rep *scenario.Report, description string, stdout, stderr io.Writer) error {
	if rep == nil {
		return nil
	}
	var first error
	if f.csv != "" {
		if err := rep.WriteCSV(f.csv); err != nil {
			fmt.Fprintf(stderr, "enilab: --csv: %v\n", err)
			first = err
		} else {
			fmt.Fprintf(stdout, "time series written to %s (%s)\n", f.csv, strings.Join(scenario.CSVFiles, ", "))
		}
	}
	if f.html != "" {
		if err := writeHTML(f.html, rep, description); err != nil {
			fmt.Fprintf(stderr, "enilab: --html: %v\n", err)
			if first == nil {
				first = err
			}
		} else {
			fmt.Fprintf(stdout, "HTML report written to %s\n", f.html)
		}
	}
	if first != nil {
		return &exitError{code: ExitLab, err: first, quiet: true}
	}
	return nil
}

func writeHTML(path string, rep *scenario.Report, description string) error {
	fl, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := htmlreport.Write(fl, rep, description); err != nil {
		fl.Close()
		return err
	}
	return fl.Close()
}
