// Package didyoumean finds the likely intended word behind a typo, for
// error messages that end "(did you mean …?)".
package didyoumean

import (
	"strings"

	"github.com/agnivade/levenshtein"
)

// Closest returns the candidate nearest to s (case-insensitive edit
// distance) when it is close enough to be a likely typo: at most one edit
// for a word of four letters or fewer, two for longer ones. Else "".
func Closest(s string, candidates []string) string {
	best, bestD := "", 3
	if len(s) <= 4 {
		bestD = 2
	}
	ls := strings.ToLower(s)
	for _, c := range candidates {
		if d := levenshtein.ComputeDistance(ls, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
