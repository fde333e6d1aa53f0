package ipamdclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2/hpack"
)

// One unary gRPC call is one HTTP/2 stream (RFC 9113; gRPC's PROTOCOL-HTTP2):
// the connection preface, an empty SETTINGS, the request HEADERS and one
// DATA frame holding the length-prefixed message, all in one write; then
// frames are read until the stream ends with its trailers. SETTINGS and
// PING from the server are acknowledged; the messages are far below every
// flow-control window, so no WINDOW_UPDATE is ever needed.

// HTTP/2 frame types and flags used here.
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePing         = 0x6
	frameGoAway       = 0x7
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20

	// maxFrame is HTTP/2's default SETTINGS_MAX_FRAME_SIZE, which the
	// client never raises, so no peer may send more.
	maxFrame = 16384
	streamID = 1
)

const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// maxReply bounds a reply message (ipamd's are a few hundred bytes).
const maxReply = 4 << 20

// call sends req to method ("/package.Service/Method") and returns the
// reply message.
func (c *Client) call(ctx context.Context, method string, req []byte) ([]byte, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctxStatus(ctx)
		}
		return nil, &StatusError{Code: Unavailable, Message: fmt.Sprintf(
			"connection error: desc = \"transport: Error while dialing: %v\"", err)}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	s := &stream{conn: conn, r: bufio.NewReaderSize(conn, 4096)}
	reply, err := s.roundTrip(ctx, method, req)
	switch {
	case err == nil:
		return reply, nil
	case ctx.Err() != nil:
		return nil, ctxStatus(ctx)
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The connection's deadline (the context's) passed a moment
		// before the context's own timer fired.
		return nil, &StatusError{Code: DeadlineExceeded, Message: context.DeadlineExceeded.Error()}
	}
	return nil, err
}

func ctxStatus(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &StatusError{Code: DeadlineExceeded, Message: ctx.Err().Error()}
	}
	return &StatusError{Code: Canceled, Message: ctx.Err().Error()}
}

// stream is the one call of a connection.
type stream struct {
	conn    net.Conn
	r       *bufio.Reader
	dec     *hpack.Decoder
	headers map[string]string
	body    []byte
}

func (s *stream) roundTrip(ctx context.Context, method string, req []byte) ([]byte, error) {
	if _, err := s.conn.Write(request(ctx, method, req)); err != nil {
		return nil, transportErr("write", err)
	}
	s.headers = map[string]string{}
	s.dec = hpack.NewDecoder(4096, func(f hpack.HeaderField) { s.headers[f.Name] = f.Value })
	for {
		done, err := s.readFrame()
		if err != nil {
			return nil, err
		}
		if done {
			return s.result()
		}
	}
}

// request is the whole client side of the call.
func request(ctx context.Context, method string, msg []byte) []byte {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	fields := [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", method}, {":authority", "localhost"},
		{"content-type", "application/grpc"}, {"te", "trailers"}}
	if dl, ok := ctx.Deadline(); ok {
		fields = append(fields, [2]string{"grpc-timeout", timeout(time.Until(dl))})
	}
	for _, f := range fields {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	out := make([]byte, 0, len(preface)+9+9+hb.Len()+9+5+len(msg))
	out = append(out, preface...)
	out = appendFrame(out, frameSettings, 0, 0, nil)
	out = appendFrame(out, frameHeaders, flagEndHeaders, streamID, hb.Bytes())
	data := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	data = append(data, msg...)
	for len(data) > maxFrame {
		out = appendFrame(out, frameData, 0, streamID, data[:maxFrame])
		data = data[maxFrame:]
	}
	return appendFrame(out, frameData, flagEndStream, streamID, data)
}

// timeout is gRPC's grpc-timeout value: at most 8 digits and a unit.
func timeout(d time.Duration) string {
	if d <= 0 {
		return "1n"
	}
	if ms := (d + time.Millisecond - 1) / time.Millisecond; ms < 1e8 {
		return strconv.FormatInt(int64(ms), 10) + "m"
	}
	return strconv.FormatInt(int64(min(d/time.Second, 1e8-1)), 10) + "S"
}

func appendFrame(b []byte, typ, flags byte, stream uint32, payload []byte) []byte {
	n := len(payload)
	b = append(b, byte(n>>16), byte(n>>8), byte(n), typ, flags)
	b = binary.BigEndian.AppendUint32(b, stream)
	return append(b, payload...)
}

func transportErr(what string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return err // call turns it into the context's status
	}
	return &StatusError{Code: Unavailable, Message: fmt.Sprintf("error %s ipamd's connection: %v", what, err)}
}

// readFrame handles one frame; done is true once the stream has ended.
func (s *stream) readFrame() (done bool, err error) {
	var h [9]byte
	if _, err := io.ReadFull(s.r, h[:]); err != nil {
		return false, transportErr("reading from", err)
	}
	n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
	typ, flags, id := h[3], h[4], binary.BigEndian.Uint32(h[5:])&0x7fffffff
	if n > maxFrame {
		return false, &StatusError{Code: Internal, Message: fmt.Sprintf("frame of %d bytes exceeds %d", n, maxFrame)}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(s.r, p); err != nil {
		return false, transportErr("reading from", err)
	}
	switch typ {
	case frameSettings:
		if flags&flagAck == 0 {
			return false, s.send(appendFrame(nil, frameSettings, flagAck, 0, nil))
		}
	case framePing:
		if flags&flagAck == 0 {
			return false, s.send(appendFrame(nil, framePing, flagAck, 0, p))
		}
	case frameGoAway:
		if len(p) >= 4 && binary.BigEndian.Uint32(p)&0x7fffffff < streamID {
			return false, &StatusError{Code: Unavailable, Message: "ipamd closed the connection (GOAWAY) before the call"}
		}
	case frameRSTStream:
		if id == streamID {
			code := uint32(0)
			if len(p) >= 4 {
				code = binary.BigEndian.Uint32(p)
			}
			return false, &StatusError{Code: Internal, Message: fmt.Sprintf("stream terminated by RST_STREAM with error code: %d", code)}
		}
	case frameData:
		if id == streamID {
			return s.data(p, flags)
		}
	case frameHeaders:
		return s.headerBlock(p, flags, id)
	}
	return false, nil
}

func (s *stream) send(b []byte) error {
	if _, err := s.conn.Write(b); err != nil {
		return transportErr("writing to", err)
	}
	return nil
}

// unpad strips a padded frame's padding (and a HEADERS priority block).
func unpad(p []byte, flags byte, priority bool) ([]byte, error) {
	if flags&flagPadded != 0 {
		if len(p) < 1 || int(p[0]) > len(p)-1 {
			return nil, &StatusError{Code: Internal, Message: "malformed padded frame"}
		}
		p = p[1 : len(p)-int(p[0])]
	}
	if priority && flags&flagPriority != 0 {
		if len(p) < 5 {
			return nil, &StatusError{Code: Internal, Message: "malformed HEADERS priority"}
		}
		p = p[5:]
	}
	return p, nil
}

func (s *stream) data(p []byte, flags byte) (bool, error) {
	p, err := unpad(p, flags, false)
	if err != nil {
		return false, err
	}
	if len(s.body)+len(p) > maxReply+5 {
		return false, &StatusError{Code: Internal, Message: "reply larger than 4 MiB"}
	}
	s.body = append(s.body, p...)
	return flags&flagEndStream != 0, nil
}

// headerBlock decodes a HEADERS frame and its CONTINUATIONs; every block
// goes through the decoder (its table is the connection's), only stream
// 1's fields are kept.
func (s *stream) headerBlock(p []byte, flags byte, id uint32) (bool, error) {
	p, err := unpad(p, flags, true)
	if err != nil {
		return false, err
	}
	block := append([]byte(nil), p...)
	for end := flags&flagEndHeaders != 0; !end; {
		var h [9]byte
		if _, err := io.ReadFull(s.r, h[:]); err != nil {
			return false, transportErr("reading from", err)
		}
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		if h[3] != frameContinuation || n > maxFrame {
			return false, &StatusError{Code: Internal, Message: "malformed header block"}
		}
		c := make([]byte, n)
		if _, err := io.ReadFull(s.r, c); err != nil {
			return false, transportErr("reading from", err)
		}
		block, end = append(block, c...), h[4]&flagEndHeaders != 0
	}
	s.dec.SetEmitEnabled(id == streamID)
	if _, err := s.dec.Write(block); err != nil {
		return false, &StatusError{Code: Internal, Message: "header block: " + err.Error()}
	}
	if err := s.dec.Close(); err != nil {
		return false, &StatusError{Code: Internal, Message: "header block: " + err.Error()}
	}
	if id == streamID && s.headers[":status"] != "" && s.headers[":status"] != "200" {
		return false, &StatusError{Code: Unknown, Message: "unexpected HTTP status " + s.headers[":status"]}
	}
	return id == streamID && flags&flagEndStream != 0, nil
}

// result reads the status from the trailers and the message from the body.
func (s *stream) result() ([]byte, error) {
	st, ok := s.headers["grpc-status"]
	if !ok {
		return nil, &StatusError{Code: Internal, Message: "server closed the stream without sending trailers"}
	}
	code, err := strconv.ParseUint(st, 10, 32)
	if err != nil {
		return nil, &StatusError{Code: Internal, Message: "malformed grpc-status " + strconv.Quote(st)}
	}
	if code != 0 {
		return nil, &StatusError{Code: Code(code), Message: percentDecode(s.headers["grpc-message"])}
	}
	b := s.body
	if len(b) < 5 || b[0] != 0 || int(binary.BigEndian.Uint32(b[1:5])) != len(b)-5 {
		return nil, &StatusError{Code: Internal, Message: "malformed reply message"}
	}
	return b[5:], nil
}

// percentDecode undoes gRPC's percent-encoding of grpc-message.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				out = append(out, byte(v))
				i += 2
				continue
			}
		}
		out = append(out, s[i])
	}
	return string(out)
}
