package chaos

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// AdminHandler serves the control API under /admin/ (mount it at "/admin/"
// next to the EC2 API, or on a port of its own; paths without the /admin
// prefix work too):
//
//	GET    /admin/faults         rules with their progress (JSON)
//	POST   /admin/faults         add a rule, or a list of rules (JSON or YAML, as LoadFaults) → 201 {"names": [...]}
//	DELETE /admin/faults/{name}  remove a rule → 204, 404 if unknown
//	DELETE /admin/faults         remove every rule → 200 {"removed": N}
//	GET    /admin/counters       Counters (JSON)
//	GET    /admin/trace          the trace in memory (JSON Lines); ?since=SEQ keeps later requests only
//
// Errors answer {"error": "..."} with 400, 404 or 405.
func (c *Controller) AdminHandler() http.Handler {
	return http.HandlerFunc(c.serveAdmin)
}

const maxAdminBody = 1 << 20

func (c *Controller) serveAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/admin")
	path = strings.Trim(path, "/")
	switch {
	case path == "":
		if !allow(w, r, http.MethodGet) {
			return
		}
		writeJSON(w, http.StatusOK, map[string][]string{"endpoints": {
			"GET /admin/faults", "POST /admin/faults", "DELETE /admin/faults/{name}", "DELETE /admin/faults",
			"GET /admin/counters", "GET /admin/trace?since=SEQ",
		}})
	case path == "faults":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			writeJSON(w, http.StatusOK, c.RuleStates())
		case http.MethodPost:
			c.postFaults(w, r)
		case http.MethodDelete:
			c.mu.Lock()
			n := len(c.rules)
			c.rules = nil
			c.mu.Unlock()
			writeJSON(w, http.StatusOK, map[string]int{"removed": n})
		default:
			allow(w, r, http.MethodGet, http.MethodPost, http.MethodDelete)
		}
	case strings.HasPrefix(path, "faults/"):
		if !allow(w, r, http.MethodDelete) {
			return
		}
		name := strings.TrimPrefix(path, "faults/")
		if !c.RemoveRule(name) {
			writeError(w, http.StatusNotFound, "no fault rule named "+strconv.Quote(name))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case path == "counters":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, c.Counters())
		}
	case path == "trace":
		if !allow(w, r, http.MethodGet) {
			return
		}
		since := 0
		if s := r.URL.Query().Get("since"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				writeError(w, http.StatusBadRequest, "since: want a request sequence number, got "+strconv.Quote(s))
				return
			}
			since = n
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		buf := make([]byte, 0, 64<<10)
		for _, rec := range c.Trace() {
			if rec.Seq <= since {
				continue
			}
			buf = rec.appendJSON(buf)
			if len(buf) > 60<<10 {
				if _, err := w.Write(buf); err != nil {
					return
				}
				buf = buf[:0]
			}
		}
		w.Write(buf)
	default:
		writeError(w, http.StatusNotFound, "no admin endpoint "+strconv.Quote(r.URL.Path)+"; see GET /admin/")
	}
}

func (c *Controller) postFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	rules, err := loadRules(body, !ruleList(body))
	if err == nil && len(rules) == 0 {
		writeError(w, http.StatusBadRequest, "no fault rule in the body")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// All or nothing: a bad rule in a list leaves the running rules alone.
	elapsed := c.clock.Now().Sub(c.start)
	c.mu.Lock()
	for _, rule := range rules {
		if rule.Name != "" && c.findRule(rule.Name) >= 0 {
			c.mu.Unlock()
			writeError(w, http.StatusBadRequest, "name: "+strconv.Quote(rule.Name)+" already in use")
			return
		}
	}
	var names []string
	for _, rule := range rules {
		name, err := c.addRule(rule, elapsed) // validated by loadRules; cannot fail
		if err != nil {
			c.mu.Unlock()
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		names = append(names, name)
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string][]string{"names": names})
}

// ruleList reports whether an admin body holds a list of rules (a
// sequence, or a mapping under faults: or rules:, as LoadFaults reads)
// rather than one rule, whatever its spacing or syntax (JSON or YAML).
func ruleList(body []byte) bool {
	var doc yaml.Node
	if yaml.Unmarshal(detab(body), &doc) != nil || len(doc.Content) == 0 {
		return false // loadRules reports the syntax error
	}
	root := doc.Content[0]
	if root.Kind == yaml.SequenceNode {
		return true
	}
	return root.Kind == yaml.MappingNode && len(root.Content) > 0 &&
		(root.Content[0].Value == "faults" || root.Content[0].Value == "rules")
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, r.Method+" not allowed here")
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
