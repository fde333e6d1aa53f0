package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// clocks is clock.tsv: EC2's sustained clock speed in GHz by family, with
// per-type rows where a type differs from its family.
type clocks map[string]float64

// readClocks reads clock.tsv from path.
func readClocks(path string) (clocks, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := parseClocks(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// parseClocks reads rows "name<TAB>GHz" after a header, a name being an
// instance type (with a dot) or a family.
func parseClocks(r io.Reader) (clocks, error) {
	c := clocks{}
	sc := bufio.NewScanner(r)
	line, header := 0, true
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.HasPrefix(text, "#") || strings.TrimSpace(text) == "" {
			continue
		}
		if header {
			header = false
			continue
		}
		name, val, _ := strings.Cut(text, "\t")
		ghz, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || ghz <= 0 || ghz > 10 || name == "" {
			return nil, fmt.Errorf("line %d: want a name and a clock speed in GHz, got %q", line, text)
		}
		if _, dup := c[name]; dup {
			return nil, fmt.Errorf("line %d: %s listed twice", line, name)
		}
		c[name] = ghz
	}
	return c, sc.Err()
}

// of is the type's sustained clock speed, 0 where EC2 reports none.
func (c clocks) of(name string) float64 {
	if ghz, ok := c[name]; ok {
		return ghz
	}
	family, _, _ := strings.Cut(name, ".")
	return c[family]
}
