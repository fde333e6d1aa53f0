package main

import (
	"strings"
	"testing"
)

func TestClocksTypeRowBeforeFamily(t *testing.T) {
	c, err := parseClocks(strings.NewReader("name\tghz\nc5\t3.4\nc5.large\t3.6\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"c5.large": 3.6, "c5.xlarge": 3.4, "m5.large": 0} {
		if got := c.of(name); got != want {
			t.Errorf("of(%s) = %v; want %v", name, got, want)
		}
	}
}

func TestClocksRefusesBadRows(t *testing.T) {
	for _, src := range []string{"h\nc5\tfast\n", "h\nc5\t0\n", "h\nc5\t3.4\nc5\t3.5\n"} {
		if _, err := parseClocks(strings.NewReader(src)); err == nil {
			t.Errorf("%q: accepted", src)
		}
	}
}
