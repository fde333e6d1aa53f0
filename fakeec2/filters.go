package fakeec2

import (
	_ "embed"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"sync"
)

// fields maps each filter name EC2 documents for one Describe action to the
// values a resource holds under it. EC2's rules: a filter matches when any
// of its values (with * and ? wildcards) matches any of the resource's
// values; several filters must all match. A name the fake keeps no state
// for yields no values, so it matches nothing, as EC2 matches nothing for
// an attribute a resource does not have.
//
// Each action's table is a sync.OnceValue, built at its first use: built as
// package variables, with the documented names parsed from
// ec2filters.json, they cost about 1 ms at the start of every program that
// links the fake, each plugin exec of a lab that re-executes itself included.
type fields[T any] map[string]func(T) []string

//go:generate sh -c "python3 testdata/ec2filters.py > ec2filters.json"

// ec2FiltersJSON is the filter names EC2 documents per Describe action, as
// botocore's service model lists them (its version is in the file).
//
//go:embed ec2filters.json
var ec2FiltersJSON []byte

// documentedFilters maps a Describe action to the filter names EC2
// documents for it, read at its first use: like the filter tables, which
// call it as they are built, it costs nothing at the start of every program
// that links the fake.
var documentedFilters = sync.OnceValue(func() map[string][]string {
	var f struct{ Filters map[string][]string }
	if err := json.Unmarshal(ec2FiltersJSON, &f); err != nil {
		panic("fakeec2: ec2filters.json: " + err.Error())
	}
	return f.Filters
})

// documented completes a table with every filter EC2 documents for action;
// the names the table does not list hold no value in the fake.
func (fm fields[T]) documented(action string) fields[T] {
	for _, n := range documentedFilters()[action] {
		if _, ok := fm[n]; !ok {
			fm[n] = none[T]
		}
	}
	return fm
}

// names returns the filter names the table accepts, tag filters aside.
func (fm fields[T]) names() []string { return slices.Sorted(maps.Keys(fm)) }

// match reports whether r, tagged tags, passes every filter.
func (fm fields[T]) match(r T, tags map[string]string, fs []filter) bool {
	for _, f := range fs {
		if m, ok := tagFilter(f, tags); ok {
			if !m {
				return false
			}
			continue
		}
		get := fm[f.name]
		if get == nil || !anyMatchAny(f.values, get(r)) {
			return false
		}
	}
	return true
}

func anyMatchAny(patterns, values []string) bool {
	for _, v := range values {
		if anyMatch(patterns, v) {
			return true
		}
	}
	return false
}

// Small value constructors for the tables.

func one(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func boolVal(b bool) []string { return []string{strconv.FormatBool(b)} }
func intVal(n int) []string   { return []string{strconv.Itoa(n)} }

// none is the value of an attribute the fake never holds.
func none[T any](T) []string { return nil }

// constant is the value of an attribute every resource of the fake shares.
func constant[T any](vs ...string) func(T) []string { return func(T) []string { return vs } }

// alias registers extra names for existing entries (EC2 documents some
// filters under two spellings).
func (fm fields[T]) alias(pairs ...string) fields[T] {
	for i := 0; i+1 < len(pairs); i += 2 {
		fm[pairs[i]] = fm[pairs[i+1]]
	}
	return fm
}

// pageOf cuts one page of at most maxN items (0 = all) starting at offset
// after; next is the offset of the following page, 0 when there is none.
func pageOf[T any](items []T, maxN int, after uint64) (page []T, next uint64) {
	start := min(int(min(after, uint64(len(items)))), len(items))
	page = items[start:]
	if maxN > 0 && len(page) > maxN {
		return page[:maxN], uint64(start + maxN)
	}
	return page, 0
}

// nextToken writes the token of the page at offset next, if any.
func (x *xw) nextToken(kind string, next uint64) {
	if next != 0 {
		x.el("nextToken", encodeToken(kind, next))
	}
}

// add copies more's filters into the table.
func (fm fields[T]) add(more fields[T]) fields[T] {
	maps.Copy(fm, more)
	return fm
}
