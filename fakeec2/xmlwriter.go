package fakeec2

import (
	"bytes"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"unicode/utf8"
)

// xw writes response XML; hand-written so a 10,000-ENI Describe stays cheap.
type xw struct {
	b       bytes.Buffer
	scratch [64]byte
}

func newXW() *xw { return &xw{} }

// grow makes room for n more bytes at once (a large Describe would
// otherwise regrow, copy and clear its buffer some twenty times).
func (x *xw) grow(n int) { x.b.Grow(n) }

func (x *xw) raw(s string)   { x.b.WriteString(s) }
func (x *xw) open(n string)  { x.b.WriteByte('<'); x.b.WriteString(n); x.b.WriteByte('>') }
func (x *xw) close(n string) { x.b.WriteString("</"); x.b.WriteString(n); x.b.WriteByte('>') }

func (x *xw) el(n, v string) {
	x.open(n)
	xmlEscape(&x.b, v)
	x.close(n)
}

func (x *xw) elInt(n string, v int) {
	x.open(n)
	x.b.Write(strconv.AppendInt(x.scratch[:0], int64(v), 10))
	x.close(n)
}

func (x *xw) elBool(n string, v bool) {
	x.open(n)
	x.b.WriteString(strconv.FormatBool(v))
	x.close(n)
}

// elAddr writes an address without allocating.
func (x *xw) elAddr(n string, a netip.Addr) {
	x.open(n)
	x.b.Write(a.AppendTo(x.scratch[:0]))
	x.close(n)
}

// elDNS writes EC2's private DNS name of a: ip-10-0-0-1.<region>.compute.internal.
func (x *xw) elDNS(n string, a netip.Addr, region string) {
	x.open(n)
	x.b.WriteString("ip-")
	b := a.AppendTo(x.scratch[:0])
	for i, c := range b {
		if c == '.' {
			b[i] = '-'
		}
	}
	x.b.Write(b)
	x.b.WriteByte('.')
	xmlEscape(&x.b, region)
	x.b.WriteString(".compute.internal")
	x.close(n)
}

func (x *xw) ret() { x.raw("<return>true</return>") }

func (x *xw) tagSet(tags map[string]string) {
	if len(tags) == 0 {
		x.raw("<tagSet/>")
		return
	}
	x.open("tagSet")
	keys := slices.Sorted(maps.Keys(tags))
	for _, k := range keys {
		x.open("item")
		x.el("key", k)
		x.el("value", tags[k])
		x.close("item")
	}
	x.close("tagSet")
}

// xmlEscape writes s as XML character data, replacing invalid UTF-8 and
// characters XML 1.0 forbids.
func xmlEscape(b *bytes.Buffer, s string) {
	if plainXML(s) {
		b.WriteString(s)
		return
	}
	escapeRunes(b, s)
}

// escapeRunes is xmlEscape rune by rune.
func escapeRunes(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '\t' || r == '\n':
			b.WriteRune(r)
		case r == '\r':
			b.WriteString("&#xD;")
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
}

// plainXML reports whether s is printable ASCII with nothing to escape,
// which xmlEscape then writes as it is (ids, addresses, names: nearly
// every value of a response).
func plainXML(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
