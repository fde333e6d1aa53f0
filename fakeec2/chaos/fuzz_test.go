package chaos

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzLoadFaults feeds arbitrary fault files (YAML or JSON, one rule or a
// list): no panic, and every rule accepted is one New accepts too — a file
// that loads never fails the lab later.
func FuzzLoadFaults(f *testing.F) {
	f.Add([]byte("- name: throttle-assign\n  kind: throttle\n  operations: [AssignPrivateIpAddresses]\n  percentage: 50\n"))
	f.Add([]byte(`[{"name":"down","kind":"unavailable","operations":["CreateNetworkInterface","AttachNetworkInterface"],"start":"10s","duration":"30s","count":3}]`))
	f.Add([]byte(`faults: [{name: describe-outage, kind: internal, operations: [DescribeNetworkInterfaces], count: 2}]`))
	f.Add([]byte("- kind: InsufficientFreeAddressesInSubnet\n  operations: [CreateNetworkInterface]\n\t- bad\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rules, err := LoadFaults(bytes.NewReader(b))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("refusal without a message")
			}
			return
		}
		if _, err := New(Config{Faults: rules}); err != nil {
			t.Fatalf("rules that loaded are refused by New: %v", err)
		}
	})
}

// FuzzLoadTrace feeds arbitrary trace files (JSON Lines a replay reads): no
// panic, and every record accepted writes back as a line that loads to the
// same record.
func FuzzLoadTrace(f *testing.F) {
	f.Add([]byte(`{"seq":1,"time":"2026-01-01T00:00:00Z","at":"0s","action":"DescribeNetworkInterfaces","call":1,"status":200,"latency":"1ms"}` + "\n"))
	f.Add([]byte(`{"seq":2,"time":"2026-01-01T00:00:01.5Z","at":"1.5s","action":"AssignPrivateIpAddresses","call":1,"params":{"NetworkInterfaceId":"eni-1"},"status":503,"code":"RequestLimitExceeded","fault":"throttle","latency":"0s"}` + "\n"))
	f.Add([]byte("{\"seq\":-1}\nnot json\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := LoadTrace(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, r := range recs {
			line, err := json.Marshal(r)
			if err != nil {
				t.Fatalf("marshal a loaded record: %v", err)
			}
			back, err := LoadTrace(bytes.NewReader(line))
			if err != nil || len(back) != 1 {
				t.Fatalf("a loaded record does not load again: %s: %v", line, err)
			}
		}
	})
}

// FuzzAdminAPI sends arbitrary methods, paths and bodies to the admin API:
// no panic, every answer is a documented status, and every error is the
// JSON {"error": "..."} the API promises.
func FuzzAdminAPI(f *testing.F) {
	f.Add("POST", "/admin/faults", []byte(`{"name":"x","action":"*","error":"InternalError"}`))
	f.Add("DELETE", "/admin/faults/x", []byte(nil))
	f.Add("GET", "/admin/trace?since=-3", []byte(nil))
	f.Add("PUT", "/admin/counters", []byte("{}"))
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		c, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		if !validMethod(method) || !strings.HasPrefix(target, "/") {
			return // net/http refuses these before any handler runs
		}
		req, err := http.NewRequest(method, "http://lab"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		c.AdminHandler().ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 201, 204:
		case 400, 404, 405:
			var e struct{ Error string }
			if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
				t.Fatalf("%s %s → %d without a JSON error: %q", method, target, rec.Code, rec.Body.String())
			}
		default:
			t.Fatalf("%s %s → undocumented status %d", method, target, rec.Code)
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, r := range m {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return false
		}
	}
	return true
}
