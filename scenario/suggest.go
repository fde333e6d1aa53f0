package scenario

import "github.com/enilab/enilab/internal/didyoumean"

// suggest is the candidate a likely typo meant, or "".
var suggest = didyoumean.Closest
