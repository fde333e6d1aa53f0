package app

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// shard is --shard i/n: this process runs the items whose index modulo n
// is i (0-based, as a Kubernetes Indexed Job's JOB_COMPLETION_INDEX).
type shard struct{ i, n int }

// String is "i/n", or "" for no sharding.
func (s shard) String() string {
	if s.n == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.i, s.n)
}

// Set reads "i/n" (a flag.Value).
func (s *shard) Set(v string) error {
	a, b, ok := strings.Cut(v, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return fmt.Errorf("want i/n with 0 ≤ i < n (e.g. 0/4, as JOB_COMPLETION_INDEX/completions), got %q", v)
	}
	s.i, s.n = i, n
	return nil
}

// picks reports whether this shard runs item idx.
func (s shard) picks(idx int) bool { return s.n == 0 || idx%s.n == s.i }

// shardRuns keeps the runs this shard made and marks their reports with
// the shard; it says which variants the shard ran.
func shardRuns(runs []*variantRun, s shard, stdout io.Writer) []*variantRun {
	if s.n == 0 {
		return runs
	}
	var mine []*variantRun
	var names []string
	for _, r := range runs {
		if r.v.Scenario == nil {
			continue
		}
		if r.rep != nil {
			r.rep.Shard = s.String()
		}
		mine = append(mine, r)
		names = append(names, r.v.Name)
	}
	fmt.Fprintf(stdout, "shard %s ran %d of %d variants: %s\n", s, len(mine), len(runs), strings.Join(names, ", "))
	return mine
}
