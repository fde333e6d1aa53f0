// Package archtest checks the import rules of docs/ARCHITECTURE.md: which
// room of the repository may import which. It has no code, only this test,
// which `make lint` runs.
package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/enilab/enilab"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// rule is one line of the import table: packages matching from may not
// import (directly, or with deps also transitively) a package matching any
// of banned.
type rule struct {
	from   string
	banned []string
	deps   bool // check transitive dependencies, not only direct imports
	why    string
}

var rules = []rule{
	{from: "ipamd/...", banned: []string{"fakeec2/...", "node", "scenario/...", "cniplugin", "cmd/..."}, deps: true,
		why: "ipamd must not know it runs against a fake, nor reach into the lab"},
	{from: "fakeec2/...", banned: []string{"ipamd/...", "node", "scenario/...", "cniplugin", "cmd/..."}, deps: true,
		why: "fakeec2 is EC2: it knows nothing of its clients"},
	{from: "cniplugin", banned: []string{"ipamd", "ipamd/netsetup", "ipamd/pool", "ipamd/datastore", "node", "scenario/...", "fakeec2/..."}, deps: true,
		why: "the plugin talks to ipamd over gRPC only (ipamd/rpc); shared datapath code lives in internal/datapath"},
	{from: "cmd/aws-cni", banned: []string{"cniplugin/egress", "cniplugin/multicall"}, deps: true,
		why: "aws-cni is one plugin, as upstream ships it: egress-cni and its host-local libraries would add to every exec's start (docs/performance.md)"},
	{from: "scenario", banned: []string{"ipamd", "node", "cniplugin", "github.com/vishvananda/netlink", "google.golang.org/grpc", "gonum.org/v1/plot"}, deps: true,
		why: "the scenario parser and runner stay free of the daemon, netlink, gRPC and plotting (enilab validate links little)"},
	{from: "scenario/htmlreport", banned: []string{"ipamd", "node", "cniplugin", "scenario/nodelab"}, deps: true,
		why: "the HTML report is drawn from a scenario.Report, never from the lab"},
	{from: "internal/datapath", banned: []string{"github.com/vishvananda/netlink"}, deps: true,
		why: "the datapath contract is pure so the scenario parser can use it"},
	{from: "internal/...", banned: []string{"fakeec2/...", "ipamd/...", "node", "scenario/...", "cniplugin", "cmd/...", "e2e"}, deps: false,
		why: "internal/ packages are leaves shared by every room"},
	{from: "cmd/...", banned: []string{"k8s.io/client-go"}, deps: true,
		why: "the lab binary is exec'd as egress-cni for every pod: client-go's init costs ~3 ms an exec (node/kubeapi holds it, for tests)"},
	{from: "...", banned: []string{"cmd/..."}, deps: false,
		why: "cmd/ holds mains and their apps; nothing else imports them"},
}

// match reports whether path matches pattern: a module-relative path, "x/..."
// for x and below, "..." for every module package, or a full external path.
func match(pattern, path string) bool {
	if first, _, _ := strings.Cut(pattern, "/"); strings.Contains(first, ".") && first != "..." {
		return path == pattern || strings.HasPrefix(path, pattern+"/")
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return false
	}
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return rel == base || strings.HasPrefix(rel, base+"/")
	}
	return rel == pattern
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH: import rules not checked")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goTool, "list", "-json=ImportPath,Imports,Deps", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages; expected the whole module", len(pkgs))
	}
	for _, p := range pkgs {
		for _, r := range rules {
			if !match(r.from, p.ImportPath) {
				continue
			}
			// A main under cmd/X may import its own app, cmd/X/app.
			seen := p.Imports
			if r.deps {
				seen = p.Deps
			}
			for _, imp := range seen {
				for _, b := range r.banned {
					if !match(b, imp) || ownApp(p.ImportPath, imp) {
						continue
					}
					t.Errorf("%s imports %s: %s (docs/ARCHITECTURE.md)", p.ImportPath, imp, r.why)
				}
			}
		}
	}
}

// ownApp: cmd/X (a thin main) and cmd/X/... may import cmd/X/....
func ownApp(from, imp string) bool {
	rel, ok := strings.CutPrefix(from, module+"/cmd/")
	if !ok {
		return false
	}
	name, _, _ := strings.Cut(rel, "/")
	return strings.HasPrefix(imp, module+"/cmd/"+name+"/") || imp == module+"/cmd/"+name
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"ipamd/...", module + "/ipamd", true},
		{"ipamd/...", module + "/ipamd/pool", true},
		{"ipamd/...", module + "/ipamdx", false},
		{"ipamd", module + "/ipamd/pool", false},
		{"...", module + "/node", true},
		{"...", "github.com/vishvananda/netlink", false},
		{"github.com/vishvananda/netlink", "github.com/vishvananda/netlink/nl", true},
		{"google.golang.org/grpc", "google.golang.org/grpcx", false},
	} {
		if got := match(c.pattern, c.path); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}
