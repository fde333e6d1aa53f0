package main

import (
	"strings"
	"testing"
)

func testSources(t *testing.T) sources {
	t.Helper()
	return sources{memory: rulesFrom(t, "name\tmib\n"), facts: map[string]fact{
		"c5.large": {2, 4096}, "m5.large": {2, 8192}, "m5.24xlarge": {96, 393216},
	}}
}

const header = "instance_type\tmax_enis\tipv4_per_eni\thypervisor\tbare_metal\tdefault_network_card\tnetwork_cards\ttrunking\tbranch_enis\n"

// The package looks types up by halves, so the table comes out sorted by
// name whatever the file's order, with the largest ipv4_per_eni as a
// constant.
func TestGenerateSortsAndFindsMostAddresses(t *testing.T) {
	tsv := header +
		"m5.large\t3\t10\tnitro\tfalse\t0\t0:3\ttrue\t9\n" +
		"m5.24xlarge\t15\t50\tnitro\tfalse\t0\t0:15\ttrue\t107\n" +
		"c5.large\t3\t10\tnitro\tfalse\t0\t0:3\ttrue\t9\n"
	out, err := generate(strings.NewReader(tsv), testSources(t))
	if err != nil {
		t.Fatal(err)
	}
	src := string(out)
	c5, m24, m5 := strings.Index(src, `"c5.large"`), strings.Index(src, `"m5.24xlarge"`), strings.Index(src, `"m5.large"`)
	if c5 < 0 || !(c5 < m24 && m24 < m5) {
		t.Errorf("rows not sorted by name (c5.large at %d, m5.24xlarge at %d, m5.large at %d):\n%s", c5, m24, m5, src)
	}
	if !strings.Contains(src, "const MaxIPv4PerENI = 50\n") {
		t.Errorf("no MaxIPv4PerENI = 50:\n%s", src)
	}
}

// A map literal refused a name twice at compile time; the sorted array
// would keep both, so the generator refuses it.
func TestGenerateRefusesATypeTwice(t *testing.T) {
	row := "m5.large\t3\t10\tnitro\tfalse\t0\t0:3\ttrue\t9\n"
	_, err := generate(strings.NewReader(header+row+row), testSources(t))
	if err == nil || !strings.Contains(err.Error(), "m5.large listed twice") {
		t.Errorf("generate = %v; want m5.large listed twice", err)
	}
}
