package main

import (
	"strings"
	"testing"
)

func rulesFrom(t *testing.T, tsv string) memRules {
	t.Helper()
	m, err := parseMemory(strings.NewReader(tsv))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMemoryRuleAndExceptions(t *testing.T) {
	m := rulesFrom(t, "name\tmib\nr3\t7808\nr3.large\t15360\n")
	cases := []struct {
		name  string
		vcpus int
		want  int
	}{
		{"m5.large", 2, 8192}, {"c7i-flex.xlarge", 4, 8192}, {"r6g.medium", 1, 8192},
		{"x2gd.large", 2, 32768}, {"x2iedn.xlarge", 4, 131072}, {"t3.micro", 2, 1024},
		{"t2.nano", 1, 512}, {"u-9tb1.metal", 448, 9437184}, {"u7i-12tb.224xlarge", 896, 12582912},
		{"r3.xlarge", 4, 31232}, {"r3.large", 2, 15360},
	}
	for _, c := range cases {
		got, err := memoryOf(c.name, c.vcpus, m)
		if err != nil || got != c.want {
			t.Errorf("memoryOf(%s, %d) = %d, %v; want %d", c.name, c.vcpus, got, err, c.want)
		}
	}
}

// A type no rule covers is an error naming memory.tsv, not a zero.
func TestMemoryWithoutRuleFails(t *testing.T) {
	m := rulesFrom(t, "name\tmib\n")
	for _, name := range []string{"p4d.24xlarge", "mac2.metal", "hpc7g.4xlarge", "t3.huge"} {
		if _, err := memoryOf(name, 16, m); err == nil || !strings.Contains(err.Error(), "memory.tsv") {
			t.Errorf("memoryOf(%s) error = %v; want one naming memory.tsv", name, err)
		}
	}
}

func TestParseMemoryRejectsBadRows(t *testing.T) {
	for _, tsv := range []string{"name\tmib\nm5.large\tlots\n", "name\tmib\nm5\t-1\n", "name\tmib\nc3\t1920\nc3\t1920\n"} {
		if _, err := parseMemory(strings.NewReader(tsv)); err == nil {
			t.Errorf("parseMemory(%q) accepted", tsv)
		}
	}
}

// compute refuses a memory rule that contradicts EC2's recorded answer.
func TestComputeChecksRecordedAnswers(t *testing.T) {
	src := sources{memory: rulesFrom(t, "name\tmib\n"), facts: map[string]fact{"m5.large": {2, 8000}}}
	if _, _, err := compute("m5.large", nil, src); err == nil || !strings.Contains(err.Error(), "EC2 answered 8000") {
		t.Errorf("compute error = %v; want the contradiction", err)
	}
	src.facts["m5.large"] = fact{2, 8192}
	if v, mib, err := compute("m5.large", nil, src); err != nil || v != 2 || mib != 8192 {
		t.Errorf("compute = %d, %d, %v", v, mib, err)
	}
}

// The shipped memory.tsv parses and covers the families the class rule does not.
func TestShippedMemoryTable(t *testing.T) {
	m, err := readMemory("memory.tsv")
	if err != nil {
		t.Fatal(err)
	}
	for name, vcpus := range map[string]int{"p4d.24xlarge": 96, "mac2.metal": 8, "hpc7a.96xlarge": 192, "bmn-sf1.metal": 1} {
		if n, err := memoryOf(name, vcpus, m); err != nil || n <= 0 {
			t.Errorf("memoryOf(%s) = %d, %v", name, n, err)
		}
	}
}
