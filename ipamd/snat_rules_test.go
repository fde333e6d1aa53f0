package ipamd

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/config"
)

// goldenSection is one setting of testdata/upstream-snat-rules.golden.
type goldenSection struct {
	name        string
	env         map[string]string
	nat, mangle []string
}

func readGolden(t *testing.T) []goldenSection {
	t.Helper()
	f, err := os.Open("testdata/upstream-snat-rules.golden")
	require.NoError(t, err)
	defer f.Close()
	var out []goldenSection
	var dst *[]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "== "):
			s := goldenSection{name: strings.TrimPrefix(line, "== "), env: map[string]string{}}
			for _, kv := range strings.Fields(s.name) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					s.env[k] = v
				}
			}
			out = append(out, s)
		case line == "-- nat":
			dst = &out[len(out)-1].nat
		case line == "-- mangle":
			dst = &out[len(out)-1].mangle
		default:
			require.NotNil(t, dst, "golden line %q outside a table", line)
			*dst = append(*dst, line)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

const goldenMAC = "02:aa:00:00:00:10"

// snatNS makes a throw-away node namespace (test prefix enlt-snat-) whose
// eth0 carries goldenMAC, removed when the test ends.
func snatNS(t *testing.T) string {
	t.Helper()
	path := bareSNATNS(t)
	h, err := nsutil.Handle(path)
	require.NoError(t, err)
	defer h.Close()
	hw, _ := net.ParseMAC(goldenMAC)
	require.NoError(t, h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0", HardwareAddr: hw}, PeerName: "vpc0"}))
	return path
}

// bareSNATNS makes a throw-away namespace with no links but lo. It skips,
// saying why, without root or without the iptables binary.
func bareSNATNS(t *testing.T) string {
	t.Helper()
	if !nsutil.IsRoot() {
		t.Skip("needs root: creates network namespaces")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skipf("needs the iptables binary (scripts/setup.sh installs it, nft backend): %v", err)
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "enlt-snat-" + hex.EncodeToString(b)
	path, err := nsutil.NewNamed(name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nsutil.DeleteNamed(name) })
	return path
}

// inNS runs a command inside the namespace at path.
func inNS(t *testing.T, path string, args ...string) string {
	t.Helper()
	var out []byte
	require.NoError(t, nsutil.Do(path, func() (err error) {
		out, err = exec.Command(args[0], args[1:]...).CombinedOutput()
		return err
	}), "%v: %s", args, out)
	return string(out)
}

func iptablesS(t *testing.T, path, table string) []string {
	return strings.Split(strings.TrimSpace(inNS(t, path, "iptables", "-t", table, "-S")), "\n")
}

// goldenDaemon is ipamd as nodeInit leaves it before SetupHostNetwork on
// the golden file's node, with the section's environment.
func goldenDaemon(t *testing.T, path string, env map[string]string) *Daemon {
	cfg, err := config.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	return &Daemon{
		cfg: cfg, opts: Options{NetNSPath: path}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		primary:  awsapi.ENIMeta{MAC: goldenMAC, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.10")}},
		vpcCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("100.64.0.0/16")},
	}
}

// TestHostSNATRulesAsUpstreamGolden: for each setting of the golden file,
// ipamd's start-up (upstream's SetupHostNetwork → UpdateHostSNATRules →
// buildIptablesSNATRules, iptablesConnmark.Setup/Cleanup) leaves exactly
// upstream's rules, both in a fresh node namespace and in one namespace
// that goes through the settings in turn (ipamd restarted with new
// settings reconciles, as upstream's stale-rule removal does). The
// fwmark rule is there unless node-port support is off and SNAT is
// external; the primary ENI has AWS_VPC_ENI_MTU. Nothing reaches the root
// namespace.
func TestHostSNATRulesAsUpstreamGolden(t *testing.T) {
	sections := readGolden(t)
	require.Len(t, sections, 7)
	shared := snatNS(t)
	for _, s := range sections {
		t.Run(strings.ReplaceAll(s.name, " ", "+"), func(t *testing.T) {
			paths := []string{snatNS(t), shared}
			if s.env[config.EnvConnmark] != "" || s.env[config.EnvVethPrefix] != "" {
				// Upstream never removes rules made with an earlier mark or
				// veth prefix: this one is checked in a fresh namespace only.
				paths = paths[:1]
			}
			for _, path := range paths {
				d := goldenDaemon(t, path, s.env)
				require.NoError(t, d.setupHostNetwork())
				require.NoError(t, d.setupHostNetwork(), "a restart changes nothing")
				assert.Equal(t, s.nat, iptablesS(t, path, "nat"), "iptables -t nat -S")
				assert.Equal(t, s.mangle, iptablesS(t, path, "mangle"), "iptables -t mangle -S")
				assert.Contains(t, inNS(t, path, "ip", "link", "show", "eth0"), " mtu 9001 ", "SetupHostNetwork sets AWS_VPC_ENI_MTU on the primary ENI")
				mark := "0x80"
				if m := s.env[config.EnvConnmark]; m != "" {
					mark = m
				}
				rule := "1024:\tfrom all fwmark " + mark + "/" + mark + " lookup main"
				rules := inNS(t, path, "ip", "rule")
				if s.env[config.EnvNodePortSupport] == "false" && s.env[config.EnvExternalSNAT] == "true" {
					assert.NotContains(t, rules, "fwmark", "upstream SetupHostNetwork: no main ENI rule")
				} else {
					assert.Contains(t, rules, rule)
				}
			}
		})
	}
	root, err := exec.Command("iptables-save").CombinedOutput()
	require.NoError(t, err, "%s", root)
	assert.NotContains(t, string(root), "AWS", "the root namespace's iptables stay untouched")
}

// Upstream's UpdateExternalServiceIpRules (nodeInit's
// configureIPRulesForPods): each CIDR of
// AWS_EXTERNAL_SERVICE_CIDRS gets `to <cidr> lookup main` at priority
// 1535; a restart with another list leaves only the new ones.
func TestExternalServiceCIDRsAsUpstreamUpdateExternalServiceIpRules(t *testing.T) {
	path := snatNS(t)
	d := goldenDaemon(t, path, map[string]string{config.EnvExternalServiceCIDRs: "10.100.0.0/16,nope,172.20.0.5/16"})
	d.externalServiceRules()
	rules := inNS(t, path, "ip", "rule")
	assert.Contains(t, rules, "1535:\tfrom all to 10.100.0.0/16 lookup main")
	assert.Contains(t, rules, "1535:\tfrom all to 172.20.0.0/16 lookup main")

	d = goldenDaemon(t, path, map[string]string{config.EnvExternalServiceCIDRs: "192.0.2.0/24"})
	d.externalServiceRules()
	rules = inNS(t, path, "ip", "rule")
	assert.Contains(t, rules, "1535:\tfrom all to 192.0.2.0/24 lookup main")
	assert.NotContains(t, rules, "10.100.0.0/16")
	assert.NotContains(t, rules, "172.20.0.0/16")
}

// Upstream's networkutils GetConfigForDebug (/v1/networkutils-env-settings)
// shows the settings ipamd applies.
func TestNetworkEnvForDebugAsUpstreamGetConfigForDebug(t *testing.T) {
	d := goldenDaemon(t, "", map[string]string{
		config.EnvConnmark: "0x4000", config.EnvRandomizeSNAT: "none", config.EnvNodePortSupport: "false",
		config.EnvExcludeSNATCIDRs: "192.168.0.0/16,bad", config.EnvExternalServiceCIDRs: "10.100.0.0/16",
	})
	b, err := json.Marshal(d.networkEnvForDebug())
	require.NoError(t, err)
	assert.JSONEq(t, `{"AWS_VPC_K8S_CNI_CONNMARK":16384,"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS":["192.168.0.0/16"],"AWS_VPC_K8S_CNI_EXTERNALSNAT":false,
		"AWS_EXTERNAL_SERVICE_CIDRS":["10.100.0.0/16"],"AWS_VPC_ENI_MTU":9001,"AWS_VPC_K8S_CNI_VETHPREFIX":"eni",
		"AWS_VPC_CNI_NODE_PORT_SUPPORT":false,"AWS_VPC_K8S_CNI_RANDOMIZESNAT":0}`, string(b))
}
