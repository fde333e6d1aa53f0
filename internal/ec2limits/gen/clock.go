package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// clocks is clock.tsv: EC2's sustained clock speed in GHz by family, with
// per-type rows where a type differs from its family.
type clocks map[string]float64

// readClocks reads clock.tsv from path.
func readClocks(path string) (clocks, error) {
	c := clocks{}
	return c, eachFileRow(path, c.add)
}

// parseClocks reads clock.tsv's rows from r.
func parseClocks(r io.Reader) (clocks, error) {
	c := clocks{}
	return c, eachRow(r, c.add)
}

// add reads one row "name<TAB>GHz", a name being an instance type (with a
// dot) or a family.
func (c clocks) add(text string) error {
	name, val, _ := strings.Cut(text, "\t")
	ghz, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
	if err != nil || ghz <= 0 || ghz > 10 || name == "" {
		return fmt.Errorf("want a name and a clock speed in GHz, got %q", text)
	}
	if _, dup := c[name]; dup {
		return fmt.Errorf("%s listed twice", name)
	}
	c[name] = ghz
	return nil
}

// of is the type's sustained clock speed, 0 where EC2 reports none.
func (c clocks) of(name string) float64 {
	if ghz, ok := c[name]; ok {
		return ghz
	}
	family, _, _ := strings.Cut(name, ".")
	return c[family]
}
