package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func repoDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(d, "go.mod"), []byte("module x\n"), 0o644))
	return d
}

func TestParseConfigDefaults(t *testing.T) {
	repo := repoDir(t)
	c, err := ParseConfig([]string{"-repo", repo}, env(map[string]string{"HOME": "/home/u"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, DefaultPackages, c.Packages)
	assert.False(t, c.explicitPkgs, "the default list skips suites that have not landed")
	assert.Equal(t, []string{"dummy", "veth"}, c.Backends)
	assert.Equal(t, "!fabric", c.DummyFilter)
	assert.Equal(t, "/home/u/.cache/enilab-vm", c.CacheDir)
	assert.Equal(t, filepath.Join(repo, "bin", "vm-test"), c.OutDir)
	assert.Equal(t, "auto", c.Accel)
	assert.Contains(t, c.Modules, "dummy")
	assert.Contains(t, c.Modules, "veth")
	assert.Contains(t, c.Modules, "8021q", "branch ENIs' VLAN links")
}

func TestParseConfigEnvAndFlags(t *testing.T) {
	repo := repoDir(t)
	e := env(map[string]string{
		"ENILAB_VM_PKGS": "./e2e ./node", "ENILAB_VM_BACKENDS": "dummy", "ENILAB_VM_LABEL_FILTER": "dummy",
		"XDG_CACHE_HOME": "/xdg", "ENILAB_VM_ACCEL": "tcg", "ENILAB_VM_MEMORY": "1024",
	})
	c, err := ParseConfig([]string{"-repo", repo, "-env", "A=1", "-env", "B=two words"}, e, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"./e2e", "./node"}, c.Packages)
	assert.True(t, c.explicitPkgs)
	assert.Equal(t, []string{"dummy"}, c.Backends)
	assert.Equal(t, "dummy", c.LabelFilter)
	assert.Equal(t, "/xdg/enilab-vm", c.CacheDir)
	assert.Equal(t, 1024, c.MemoryMiB)
	assert.Equal(t, []string{"A=1", "B=two words"}, c.Env)

	c, err = ParseConfig([]string{"-repo", repo, "-pkgs", "./cniplugin", "./ipamd/netsetup"}, e, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"./cniplugin", "./ipamd/netsetup"}, c.Packages, "flags and arguments override the environment")
}

func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := ParseConfig([]string{"-repo", t.TempDir(), "-backends", "ipvlan", "-accel", "hvf", "-memory", "64", "-env", "NOEQUALS", "-helper", "x"},
		env(nil), io.Discard)
	require.Error(t, err)
	for _, want := range []string{`backend "ipvlan"`, `accel "hvf"`, "memory 64", `env "NOEQUALS"`, `helper "x"`, "no go.mod"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestSuitesPerBackendWithLabelFilters(t *testing.T) {
	c := &Config{LabelFilter: "warm-pool", DummyFilter: "!fabric", Backends: []string{"dummy", "veth"}, Run: "TestX"}
	c.Defaults(env(nil))
	r := &runner{cfg: c}
	suites := r.suites([]TestPkg{
		{ImportPath: "m/internal/nsutil", Dir: "internal/nsutil", Binary: "/w/internal-nsutil.test"},
		{ImportPath: "m/e2e", Dir: "e2e", Binary: "/w/e2e.test", Ginkgo: true, UsesNode: true},
	})
	require.Len(t, suites, 3, "nsutil once; e2e once per backend")
	ns, dummy, veth := suites[0], suites[1], suites[2]
	assert.Equal(t, "internal-nsutil", ns.ID)
	assert.Empty(t, ns.Backend)
	assert.NotContains(t, ns.Env, backendEnv)
	assert.Equal(t, "/src/internal/nsutil", ns.Dir, "binaries run in their package directory, as under go test")
	assert.Contains(t, ns.Args, "-test.run=TestX")
	for _, a := range ns.Args {
		assert.False(t, strings.HasPrefix(a, "-ginkgo."), "plain go tests get no ginkgo flags: %s", a)
	}

	assert.Equal(t, "e2e.dummy", dummy.ID)
	assert.Equal(t, "dummy", dummy.Env[backendEnv])
	assert.Contains(t, dummy.Args, "-ginkgo.label-filter=(warm-pool) && (!fabric)")
	assert.Contains(t, dummy.Args, "-ginkgo.junit-report=/results/e2e.dummy.xml")
	assert.Equal(t, "veth", veth.Env[backendEnv])
	assert.Contains(t, veth.Args, "-ginkgo.label-filter=warm-pool", "veth runs may use the fabric")
}

func TestInitScript(t *testing.T) {
	mods := []Module{{Name: "xfrm_algo", Path: "kernel/net/xfrm/xfrm_algo.ko"}, {Name: "xfrm_user", Path: "kernel/net/xfrm/xfrm_user.ko"}}
	suites := []Suite{{ID: "e2e.dummy", Pkg: "m/e2e", Dir: "/src/e2e", Binary: "/opt/enilab/e2e.test", Backend: "dummy",
		Env: map[string]string{backendEnv: "dummy"}, Args: []string{"-test.v", "-ginkgo.label-filter=(a) && (!fabric)"}}}
	s := InitScript("6.1.0-56-cloud-amd64", mods, suites, map[string]string{"X": "it's"})
	require.True(t, strings.HasPrefix(s, "#!/bin/sh\n"))
	algo := strings.Index(s, "insmod /lib/modules/6.1.0-56-cloud-amd64/kernel/net/xfrm/xfrm_algo.ko")
	user := strings.Index(s, "insmod /lib/modules/6.1.0-56-cloud-amd64/kernel/net/xfrm/xfrm_user.ko")
	require.True(t, algo > 0 && user > algo, "modules load in the given order")
	assert.Less(t, strings.Index(s, "mount -t proc"), algo)
	assert.Less(t, strings.Index(s, markerUp), algo, "the boot marker comes before anything slow")
	assert.Contains(t, s, "mkdir -p /run/netns")
	assert.Contains(t, s, "ip link set lo up")
	assert.Contains(t, s, `export X='it'\''s'`)
	assert.Contains(t, s, "cd /src/e2e && env ENILAB_ENI_BACKEND=dummy /opt/enilab/e2e.test -test.v '-ginkgo.label-filter=(a) && (!fabric)' </dev/null")
	assert.Contains(t, s, "say rc e2e.dummy")
	run, tarb, done := strings.Index(s, "e2e.test"), strings.Index(s, "say tar-begin"), strings.Index(s, "say done")
	assert.True(t, run < tarb && tarb < done, "results go home after the suites, done last")
	assert.True(t, strings.HasSuffix(s, "reboot -f\n"), "the VM ends itself (qemu runs with -no-reboot)")
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "A=b/c.d": "A=b/c.d", "": "''", "two words": "'two words'", "it's": `'it'\''s'`, "$HOME": "'$HOME'", "a&&b": "'a&&b'",
	} {
		assert.Equal(t, want, shellQuote(in), in)
	}
}

func TestVMArgsHaveNoNetwork(t *testing.T) {
	args := strings.Join(VM{QEMU: "q", Kernel: "k", Initrd: "i", MemoryMiB: 512, CPUs: 1, Accel: "tcg", ResultsLog: "/w/r"}.Args(), " ")
	assert.Contains(t, args, "-nic none")
	assert.Contains(t, args, "-nodefaults")
	assert.NotContains(t, args, "netdev")
	assert.Contains(t, args, "-accel tcg")
	assert.Contains(t, args, "-no-reboot")
	assert.Contains(t, args, "path=/w/r")
}

func TestChooseAccel(t *testing.T) {
	memo := accelMemo{path: filepath.Join(t.TempDir(), "accel")}
	got, err := ChooseAccel("tcg", memo)
	require.NoError(t, err)
	assert.Equal(t, []string{"tcg"}, got)
	_, err = ChooseAccel("hvf", memo)
	assert.Error(t, err)
	memo.markKVMBroken()
	got, err = ChooseAccel("auto", memo)
	require.NoError(t, err)
	assert.Equal(t, []string{"tcg"}, got, "a KVM that failed on this host boot is not tried again")
}
