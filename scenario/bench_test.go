package scenario

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// BenchmarkParseTour measures parsing and validating the default tour
// (instance-type lookups, CIDR checks, pod tracking included).
func BenchmarkParseTour(b *testing.B) {
	data, err := os.ReadFile("../scenarios/tour.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("tour.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunnerOverhead runs a 13-step scenario against the in-memory
// fake lab: the cost of the runner, expects, monitor and timeline alone.
func BenchmarkRunnerOverhead(b *testing.B) {
	sc, err := Parse("t.yaml", []byte(runnable))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		lab := newFakeLab()
		var out bytes.Buffer
		if _, err := Run(context.Background(), sc, Options{Out: &out, NewLab: lab.factory(nil), Poll: time.Millisecond}); err != nil {
			b.Fatal(err)
		}
	}
}
