package fakeec2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/enilab/enilab/internal/clock"
)

// APIVersion is the only EC2 API version the server speaks.
const APIVersion = "2016-11-15"

const xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/"

// ServeHTTP answers the EC2 Query API: POST / with a form body, or GET with
// a query string. Every request passes through Config.Interceptor.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrived := s.cfg.Clock.Now()
	rid := s.requestID()
	params, perr := s.parseRequest(w, r)
	call := Call{Action: params.Get("Action"), Params: params, Attempt: parseAttempt(r.Header.Get("amz-sdk-request")), Time: arrived}

	var verdict Verdict
	if ic := s.cfg.Interceptor; ic != nil {
		verdict = ic.Before(call)
	}
	if verdict.Latency > 0 {
		if err := clock.Sleep(r.Context(), s.cfg.Clock, verdict.Latency); err != nil {
			// The client gave up; nothing useful can be written.
			if ic := s.cfg.Interceptor; ic != nil {
				ic.After(call, verdict, Outcome{Status: 499, Code: "RequestCanceled", RequestID: rid, Latency: clock.Since(s.cfg.Clock, arrived)})
			}
			return
		}
	}

	var body []byte
	e := verdict.Err
	if e == nil {
		e = perr
	}
	if e == nil {
		body, e = s.dispatch(r.Context(), call.Action, params, rid)
	}
	out := Outcome{Status: http.StatusOK, RequestID: rid}
	if e != nil {
		out.Status, out.Code = e.Status, e.Code
		if out.Status == 0 {
			out.Status = http.StatusBadRequest
		}
		body = errorXML(e, rid)
	}
	if r.Method == http.MethodPost && len(body) > settleAbove {
		time.Sleep(settleDelay)
	}
	h := w.Header()
	h.Set("Content-Type", "text/xml;charset=UTF-8")
	h.Set("x-amzn-requestid", rid)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(out.Status)
	_, _ = w.Write(body)
	out.Latency = clock.Since(s.cfg.Clock, arrived)
	if ic := s.cfg.Interceptor; ic != nil {
		ic.After(call, verdict, out)
	}
}

// parseRequest decodes the form body or query string, refusing bodies over
// MaxBodyBytes. It always returns usable (possibly empty) params.
func (s *Server) parseRequest(w http.ResponseWriter, r *http.Request) (url.Values, *Error) {
	query, qerr := url.ParseQuery(r.URL.RawQuery)
	if query == nil {
		query = url.Values{}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if qerr != nil {
			return query, invalidParam("The query string could not be parsed: %v", qerr)
		}
		return query, nil
	case http.MethodPost:
	default:
		return query, errCode("InvalidAction", 400, "The HTTP method %s is not supported; use POST or GET.", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return query, invalidParam("Unsupported Content-Type %q; the EC2 Query API takes application/x-www-form-urlencoded.", ct)
		}
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return query, errCode("RequestEntityTooLarge", http.StatusRequestEntityTooLarge, "The request body is larger than %d bytes.", s.cfg.MaxBodyBytes)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return query, errCode("RequestEntityTooLarge", http.StatusRequestEntityTooLarge, "The request body is larger than %d bytes.", s.cfg.MaxBodyBytes)
		}
		return query, invalidParam("The request body could not be read: %v", err)
	}
	form, ferr := url.ParseQuery(string(data))
	for k, v := range form {
		query[k] = append(query[k], v...)
	}
	if ferr != nil || qerr != nil {
		return query, invalidParam("The request body could not be parsed as a form.")
	}
	return query, nil
}

// parseAttempt reads "attempt=2; max=3" from the amz-sdk-request header.
func parseAttempt(h string) int {
	for _, part := range strings.Split(h, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == "attempt" {
			n, err := strconv.Atoi(v)
			if err == nil && n >= 0 {
				return n
			}
		}
	}
	return 0
}

func (s *Server) requestID() string {
	s.ridMu.Lock()
	a, b := s.rid.Uint64(), s.rid.Uint64()
	s.ridMu.Unlock()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a)&0xfff,
		uint16(b>>48)&0x3fff|0x8000, b&0xffffffffffff)
}

func errorXML(e *Error, rid string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Response><Errors><Error><Code>")
	xmlEscape(&b, e.Code)
	b.WriteString("</Code><Message>")
	xmlEscape(&b, e.Message)
	b.WriteString("</Message></Error></Errors><RequestID>")
	b.WriteString(rid)
	b.WriteString("</RequestID></Response>")
	return b.Bytes()
}

// handler runs one action with the state lock held and writes the inside
// of the response element.
type handler func(s *Server, p params, x *xw, now time.Time) *Error

func (s *Server) dispatch(ctx context.Context, action string, vals url.Values, rid string) ([]byte, *Error) {
	if action == "" {
		return nil, errCode("MissingAction", 400, "The request must contain the parameter Action.")
	}
	h, ok := handlers[action]
	if !ok {
		return nil, errCode("InvalidAction", 400, "The action %s is not valid for this web service.", truncate(action, 64))
	}
	if v := vals.Get("Version"); v != "" && v != APIVersion {
		return nil, errCode("NoSuchVersion", 400, "An invalid or out-of-range value '%s' was supplied for the Version parameter.", truncate(v, 64))
	}
	if len(vals) > maxParams {
		return nil, invalidParam("The request has %d parameters; at most %d are accepted.", len(vals), maxParams)
	}
	p := params{vals}
	if dry, e := p.boolean("DryRun"); e != nil {
		return nil, e
	} else if dry {
		return nil, errCode("DryRunOperation", 412, "Request would have succeeded, but DryRun flag is set.")
	}
	x := newXW()
	x.raw(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<" + action + `Response xmlns="` + xmlns + `">`)
	x.el("requestId", rid)
	s.mu.Lock()
	e := h(s, p, x, s.cfg.Clock.Now())
	s.mu.Unlock()
	if e != nil {
		return nil, e
	}
	x.raw("</" + action + "Response>")
	return x.b.Bytes(), nil
}

// maxParams bounds the parameters of one request (EC2 takes at most 1,000
// ids or 50 filters × 200 values in a list), so that no request can make a
// Describe scan quadratic.
const maxParams = 12000

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// aws-sdk-go-v2 (smithy-go) closes its request body as soon as response
// headers arrive, while net/http's write loop may not yet have finished its
// final read of that body; the write loop then sees io.EOF as an error and
// closes the connection under a response still being read ("use of closed
// network connection"). Real EC2 is milliseconds away so this never shows;
// an in-process server answers within microseconds and trips it on about
// one large response in six. Responses small enough to arrive in the
// client's first 4 KiB read are immune; larger ones wait a moment of real
// time so the client's write loop can finish. This keeps unmodified SDK
// clients working (DESIGN §2); enilab's own clients also avoid the race on
// their side (internal/awshttp, aws/aws-sdk-go-v2#2737), so they do not
// depend on this delay.
const settleAbove = 3 << 10

var settleDelay = 5 * time.Millisecond
