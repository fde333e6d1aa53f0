package fakeec2_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/clock"
)

// FuzzIMDS sends arbitrary methods, paths and header values to an
// instance's IMDSv2: no panic; only a PUT to /latest/api/token with a TTL in
// 1..21600 and no X-Forwarded-For yields a token; without a valid token
// every GET is 401; with one, an answer is 200 or 404 and never a 5xx.
func FuzzIMDS(f *testing.F) {
	f.Add("PUT", "/latest/api/token", "21600", "", "")
	f.Add("GET", "/latest/meta-data/network/interfaces/macs/", "", "valid", "")
	f.Add("GET", "/latest/meta-data/network/interfaces/macs/02:00:00:00:00:01/local-ipv4s", "", "valid", "")
	f.Add("GET", "/latest/dynamic/instance-identity/document", "", "AQAEbogus", "")
	f.Add("PUT", "/latest/api/token", "0", "", "10.0.0.1")
	f.Add("HEAD", "/latest/meta-data/../meta-data/instance-id", "", "valid", "")

	// Tokens expire on TokenClock; a still one keeps the fuzz's token valid
	// however long the run (a 60 s token on the wall clock expired a
	// minute into a 10-minute run and failed the valid-token check).
	srv, err := fakeec2.New(fakeec2.Config{Seed: 1, TokenClock: clock.NewFake(time.Unix(1e9, 0))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Close() })
	vpc, _ := srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
	sn, _ := srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: vpc.ID, CIDR: "10.0.0.0/24", AZ: "us-west-2a"})
	inst, err := srv.RunInstance(fakeec2.InstanceSpec{Type: "m5.large", SubnetID: sn.ID})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.IMDS(inst.ID)
	token := func() string {
		req := httptest.NewRequest(http.MethodPut, "/latest/api/token", nil)
		req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Body.String()
	}()

	f.Fuzz(func(t *testing.T, method, path, ttl, tok, forwarded string) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") {
			return // net/http refuses these before any handler runs
		}
		req, err := http.NewRequest(method, "http://169.254.169.254"+path, nil)
		if err != nil {
			return
		}
		if tok == "valid" {
			tok = token
		}
		for k, v := range map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": ttl,
			"X-aws-ec2-metadata-token": tok, "X-Forwarded-For": forwarded} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		code := rec.Code
		if code >= 500 {
			t.Fatalf("%s %s → %d", method, path, code)
		}
		if req.URL.Path == "/latest/api/token" {
			if code == 200 && (method != http.MethodPut || forwarded != "") {
				t.Fatalf("token issued to %s with X-Forwarded-For %q", method, forwarded)
			}
			return
		}
		if code == 200 && tok != token {
			t.Fatalf("%s %s answered 200 without a valid token", method, path)
		}
		if tok == token && (method == http.MethodGet || method == http.MethodHead) && code != 200 && code != 404 {
			t.Fatalf("%s %s with a valid token → %d", method, path, code)
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
