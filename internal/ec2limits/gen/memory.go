package main

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// memRules is memory.tsv: per-family MiB per vCPU and per-type MiB that
// override the class rule.
type memRules struct {
	perVCPU map[string]int // family → MiB per vCPU
	total   map[string]int // instance type → MiB
}

// readMemory reads memory.tsv from path.
func readMemory(path string) (memRules, error) {
	m := newMemRules()
	return m, eachFileRow(path, m.add)
}

// parseMemory reads memory.tsv's rows from r.
func parseMemory(r io.Reader) (memRules, error) {
	m := newMemRules()
	return m, eachRow(r, m.add)
}

func newMemRules() memRules {
	return memRules{perVCPU: map[string]int{}, total: map[string]int{}}
}

// add reads one row "name<TAB>MiB": a name with a dot is one instance type
// and MiB its whole memory; a name without is a family and MiB its memory
// per vCPU.
func (m memRules) add(text string) error {
	name, val, _ := strings.Cut(text, "\t")
	val, _, _ = strings.Cut(val, "\t")
	n, err := strconv.Atoi(strings.TrimSpace(val))
	if err != nil || n <= 0 || name == "" {
		return fmt.Errorf("want name and a positive MiB, got %q", text)
	}
	dst := m.perVCPU
	if strings.Contains(name, ".") {
		dst = m.total
	}
	if _, dup := dst[name]; dup {
		return fmt.Errorf("%s listed twice", name)
	}
	dst[name] = n
	return nil
}

// classMiBPerVCPU is the class rule: the GiB per vCPU EC2 gives a family by
// the letters before its generation digit.
var classMiBPerVCPU = map[string]int{
	"c": 2 << 10, "m": 4 << 10, "r": 8 << 10, "x": 16 << 10, "z": 8 << 10,
	"i": 8 << 10, "d": 8 << 10, "a": 2 << 10, "h": 4 << 10, "vt": 2 << 10,
	"g": 4 << 10, "inf": 4 << 10, "trn": 4 << 10, "dl": 8 << 10,
}

// burstableMiB is the T families' memory by size, whatever their vCPUs.
var burstableMiB = map[string]int{
	"nano": 512, "micro": 1 << 10, "small": 2 << 10, "medium": 4 << 10,
	"large": 8 << 10, "xlarge": 16 << 10, "2xlarge": 32 << 10,
}

var (
	familyParts = regexp.MustCompile(`^([a-z]+?)(\d+)([a-z]*)(-flex)?$`)
	highMemory  = regexp.MustCompile(`^u(?:\d+[a-z]*)?-(\d+)tb\d*$`)
)

// memoryOf returns a type's MiB: memory.tsv's row for the type, else its
// family's row times vCPUs, else the rule memory.tsv's header states.
func memoryOf(name string, vcpus int, m memRules) (int, error) {
	if n, ok := m.total[name]; ok {
		return n, nil
	}
	family, size, _ := strings.Cut(name, ".")
	if n, ok := m.perVCPU[family]; ok {
		return n * vcpus, nil
	}
	if p := highMemory.FindStringSubmatch(family); p != nil {
		tib, _ := strconv.Atoi(p[1])
		return tib << 20, nil
	}
	p := familyParts.FindStringSubmatch(family)
	if p == nil {
		return 0, fmt.Errorf("%s: no memory rule for family %q; list it in memory.tsv", name, family)
	}
	class, attrs := p[1], p[3]
	if class == "t" {
		if n, ok := burstableMiB[size]; ok {
			return n, nil
		}
		return 0, fmt.Errorf("%s: no burstable size %q; list it in memory.tsv", name, size)
	}
	per, ok := classMiBPerVCPU[class]
	if !ok {
		return 0, fmt.Errorf("%s: no memory rule for class %q; list it in memory.tsv", name, class)
	}
	if class == "x" && strings.Contains(attrs, "e") {
		per *= 2 // x…e…: extended memory, 32 GiB per vCPU
	}
	if vcpus <= 0 {
		return 0, fmt.Errorf("%s: no vCPUs to scale memory by", name)
	}
	return per * vcpus, nil
}
