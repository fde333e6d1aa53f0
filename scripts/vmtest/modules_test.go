package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fixtureIndex(t *testing.T) *ModIndex {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/modules.dep")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "modules.dep"), b, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko\n"), 0o644))
	idx, err := LoadModIndex(dir)
	require.NoError(t, err)
	return idx
}

func names(mods []Module) []string {
	var n []string
	for _, m := range mods {
		n = append(n, m.Name)
	}
	return n
}

func TestResolveLoadsDependenciesFirstOnceSkippingBuiltins(t *testing.T) {
	idx := fixtureIndex(t)
	mods, err := idx.Resolve([]string{"dummy", "nft-chain-nat", "nf_tables", "xfrm_user"})
	require.NoError(t, err)
	got := names(mods)
	assert.Equal(t, []string{"dummy", "libcrc32c", "nf_defrag_ipv6", "nf_conntrack", "nf_nat", "nfnetlink", "nf_tables", "nft_chain_nat", "xfrm_algo", "xfrm_user"}, got)
	assert.NotContains(t, got, "nf_defrag_ipv4", "built-in modules need no insmod")
	pos := map[string]int{}
	for i, n := range got {
		pos[n] = i
	}
	for _, m := range mods {
		for _, d := range m.Deps {
			if _, builtin := idx.Builtin[d]; builtin {
				continue
			}
			assert.Less(t, pos[d], pos[m.Name], "%s must load before %s", d, m.Name)
		}
	}
	assert.Equal(t, "kernel/net/netfilter/nft_chain_nat.ko", mods[7].Path)
}

func TestResolveNamesEveryUnknownModule(t *testing.T) {
	idx := fixtureIndex(t)
	_, err := idx.Resolve([]string{"dummy", "no_such_mod", "also-missing"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no_such_mod")
	assert.Contains(t, err.Error(), "also_missing")
}

func TestResolveReportsCycles(t *testing.T) {
	_, err := fixtureIndex(t).Resolve([]string{"loop_a"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cycle")
}

func TestParseModulesDepRejectsGarbage(t *testing.T) {
	_, err := ParseModulesDep(strings.NewReader("kernel/a.ko:\nnot a dep line\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 2")
}

func TestParseModinfo(t *testing.T) {
	info := []byte("license=GPL\x00depends=xfrm_algo,nf-nat\x00retpoline=Y\x00name=xfrm_user\x00vermagic=6.1.0 SMP\x00")
	name, deps := ParseModinfo(info)
	assert.Equal(t, "xfrm_user", name)
	assert.Equal(t, []string{"xfrm_algo", "nf_nat"}, deps)
	_, deps = ParseModinfo([]byte("depends=\x00name=dummy\x00"))
	assert.Empty(t, deps)
}

func TestModulesDepRoundTrips(t *testing.T) {
	idx := fixtureIndex(t)
	mods, err := idx.Resolve([]string{"nft_chain_nat", "veth"})
	require.NoError(t, err)
	text := ModulesDep(mods)
	assert.Contains(t, text, "kernel/drivers/net/veth.ko:\n")
	back, err := ParseModulesDep(strings.NewReader(text))
	require.NoError(t, err)
	again, err := (&ModIndex{Modules: back, Builtin: map[string]bool{}}).Resolve([]string{"nft_chain_nat", "veth"})
	require.NoError(t, err)
	assert.Equal(t, names(mods), names(again), "the VM's modules.dep must give the same load order")
	// depmod's convention: a dependency is listed after everything that
	// needs it (modprobe loads the list from the end).
	line := strings.Split(text, "\n")[len(mods)-2]
	head, rest, _ := strings.Cut(line, ":")
	require.Equal(t, "kernel/net/netfilter/nft_chain_nat.ko", head)
	listed := strings.Fields(rest)
	assert.Len(t, listed, 6, "the whole closure but the built-in module")
	at := map[string]int{}
	for i, p := range listed {
		at[modName(p)] = i
	}
	for _, p := range listed {
		for _, d := range back[modName(p)].Deps {
			if _, ok := at[d]; ok {
				assert.Greater(t, at[d], at[modName(p)], "%s needs %s: %s", p, d, line)
			}
		}
	}
}

// A kernel .deb ships no modules.dep: the index then reads each module's own
// .modinfo. This uses a real kernel module when one is cached (run.sh has
// been run); otherwise there is nothing to read and the test skips.
func TestLoadModIndexFromModinfo(t *testing.T) {
	cache := os.Getenv("ENILAB_VM_CACHE")
	if cache == "" {
		if h, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(h, "enilab-vm")
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(cache, "pkg", "linux-image-*", "lib", "modules", "*"))
	if len(dirs) == 0 {
		t.Skip("no cached Debian kernel (scripts/vmtest/run.sh downloads one)")
	}
	idx, err := LoadModIndex(dirs[0])
	require.NoError(t, err)
	mods, err := idx.Resolve([]string{"xfrm_user", "veth"})
	require.NoError(t, err)
	assert.Equal(t, []string{"xfrm_algo", "xfrm_user", "veth"}, names(mods))
}
