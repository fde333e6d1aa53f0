package chaos

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAdminAPI(t *testing.T) {
	c, clk := newController(t, Config{Throttle: ThrottleNone})
	mux := http.NewServeMux()
	mux.Handle("/admin/", c.AdminHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	do := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	status, body := do("POST", "/admin/faults", `{"name": "assign-down", "kind": "unavailable", "operations": ["AssignPrivateIpAddresses"], "count": 1}`)
	require.Equal(t, http.StatusCreated, status, body)
	assert.JSONEq(t, `{"names": ["assign-down"]}`, body)
	status, body = do("POST", "/admin/faults", "- kind: internal\n  operations: [CreateTags]\n- kind: throttle\n  operations: [RunInstances]\n")
	require.Equal(t, http.StatusCreated, status, body)
	assert.JSONEq(t, `{"names": ["rule-1", "rule-2"]}`, body)

	status, body = do("POST", "/admin/faults", "{ \"faults\": [ {\"name\": \"spaced\", \"kind\": \"internal\", \"operations\": [\"RunInstances\"]} ] }")
	require.Equal(t, http.StatusCreated, status, "a faults list in any JSON spacing: %s", body)
	assert.JSONEq(t, `{"names": ["spaced"]}`, body)
	require.True(t, c.RemoveRule("spaced"))

	status, body = do("POST", "/admin/faults", `{"kind": "internal", "percentage": 500}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "percentage: must be 1–100, got 500")
	status, body = do("POST", "/admin/faults", `{"name": "assign-down", "kind": "internal"}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "already in use")
	assert.Len(t, c.Rules(), 3, "rejected rules are not added")

	code, _ := call(c, clk, "AssignPrivateIpAddresses", nil)
	assert.Equal(t, "Unavailable", code)
	code, _ = call(c, clk, "AssignPrivateIpAddresses", nil)
	assert.Empty(t, code)

	status, body = do("GET", "/admin/faults", "")
	require.Equal(t, http.StatusOK, status)
	var states []struct {
		Rule     map[string]any
		Matched  int
		Injected int
		Active   bool
	}
	require.NoError(t, json.Unmarshal([]byte(body), &states))
	require.Len(t, states, 3)
	assert.Equal(t, "assign-down", states[0].Rule["name"])
	assert.Equal(t, 1, states[0].Injected)
	assert.False(t, states[0].Active)
	assert.True(t, states[1].Active)

	status, _ = do("DELETE", "/admin/faults/rule-1", "")
	assert.Equal(t, http.StatusNoContent, status)
	status, body = do("DELETE", "/admin/faults/rule-1", "")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Contains(t, body, `no fault rule named \"rule-1\"`)
	code, _ = call(c, clk, "CreateTags", nil)
	assert.Empty(t, code, "a removed rule stops injecting")

	status, body = do("GET", "/admin/counters", "")
	require.Equal(t, http.StatusOK, status)
	var k Counters
	require.NoError(t, json.Unmarshal([]byte(body), &k))
	assert.Equal(t, 3, k.TotalCalls)
	assert.Equal(t, map[string]int{"Unavailable": 1}, k.Errors)
	assert.Equal(t, 1, k.FaultsInjected)

	status, body = do("GET", "/admin/trace?since=1", "")
	require.Equal(t, http.StatusOK, status)
	recs, err := LoadTrace(strings.NewReader(body))
	require.NoError(t, err)
	require.Len(t, recs, 2, "since=1 leaves out the first request")
	assert.Equal(t, 2, recs[0].Seq)

	status, body = do("DELETE", "/admin/faults", "")
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"removed": 2}`, body)
	assert.Empty(t, c.Rules())

	status, _ = do("PUT", "/admin/counters", "")
	assert.Equal(t, http.StatusMethodNotAllowed, status)
	status, _ = do("GET", "/admin/nope", "")
	assert.Equal(t, http.StatusNotFound, status)
	status, body = do("GET", "/admin/", "")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "DELETE /admin/faults/{name}")
}
