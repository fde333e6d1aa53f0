package ipamdclient

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Protocol buffers' wire format, the four wire types a proto3 message of
// scalars, strings and sub-messages uses.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// encoder appends fields in field-number order; proto3 leaves zero values
// out, as the generated code does.
type encoder struct{ buf []byte }

func (e *encoder) tag(num, wire int) {
	e.buf = binary.AppendUvarint(e.buf, uint64(num)<<3|uint64(wire))
}

func (e *encoder) str(num int, s string) {
	if s == "" {
		return
	}
	e.tag(num, wireBytes)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *encoder) boolean(num int, v bool) {
	if !v {
		return
	}
	e.tag(num, wireVarint)
	e.buf = append(e.buf, 1)
}

// field is one decoded field: varint holds a varint's value, bytes a
// length-delimited payload.
type field struct {
	num, wire int
	varint    uint64
	bytes     []byte
}

func (f field) str() string { return string(f.bytes) }

var errTruncated = errors.New("protobuf: truncated message")

// walk calls fn for every field of data, skipping fixed-width ones.
func walk(data []byte, fn func(field) error) error {
	for len(data) > 0 {
		key, n := binary.Uvarint(data)
		if n <= 0 {
			return errTruncated
		}
		data = data[n:]
		f := field{num: int(key >> 3), wire: int(key & 7)}
		switch f.wire {
		case wireVarint:
			f.varint, n = binary.Uvarint(data)
			if n <= 0 {
				return errTruncated
			}
			data = data[n:]
		case wireBytes:
			l, n := binary.Uvarint(data)
			if n <= 0 || l > uint64(len(data)-n) {
				return errTruncated
			}
			f.bytes, data = data[n:n+int(l)], data[n+int(l):]
		case wireFixed64, wireFixed32:
			w := 8
			if f.wire == wireFixed32 {
				w = 4
			}
			if len(data) < w {
				return errTruncated
			}
			data = data[w:]
		default:
			return fmt.Errorf("protobuf: field %d has unsupported wire type %d", f.num, f.wire)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}
