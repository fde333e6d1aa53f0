package fakeec2

import (
	"bytes"
	"testing"
)

// FuzzXMLEscapeFastPath: writing a plain value as it is gives the bytes the
// rune-by-rune escaper gives.
func FuzzXMLEscapeFastPath(f *testing.F) {
	for _, s := range []string{"", "eni-0123456789abcdef0", "10.0.1.5", "a<b>&c", "tab\there", "cr\r", "\x00", "ü", "\xff", "~ !\"#'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fast, slow bytes.Buffer
		xmlEscape(&fast, s)
		escapeRunes(&slow, s)
		if fast.String() != slow.String() {
			t.Fatalf("%q: fast path %q, rune by rune %q", s, fast.String(), slow.String())
		}
	})
}
