package netsetup

import (
	"bytes"
	"errors"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/nsutil"
)

// countingIPT records every call that reaches iptables.
type countingIPT struct {
	iptablesAPI
	calls []string
}

func (c *countingIPT) note(verb, table, chain string, spec []string) {
	c.calls = append(c.calls, strings.Join(append([]string{verb, table, chain}, spec...), " "))
}

func (c *countingIPT) Exists(table, chain string, spec ...string) (bool, error) {
	c.note("-C", table, chain, spec)
	return c.iptablesAPI.Exists(table, chain, spec...)
}

func (c *countingIPT) Insert(table, chain string, pos int, spec ...string) error {
	c.note("-I", table, chain, spec)
	return c.iptablesAPI.Insert(table, chain, pos, spec...)
}

func (c *countingIPT) Append(table, chain string, spec ...string) error {
	c.note("-A", table, chain, spec)
	return c.iptablesAPI.Append(table, chain, spec...)
}

func (c *countingIPT) Delete(table, chain string, spec ...string) error {
	c.note("-D", table, chain, spec)
	return c.iptablesAPI.Delete(table, chain, spec...)
}

func (c *countingIPT) List(table, chain string) ([]string, error) {
	c.note("-S", table, chain, nil)
	return c.iptablesAPI.List(table, chain)
}

func (c *countingIPT) ListChains(table string) ([]string, error) {
	c.note("-S", table, "", nil)
	return c.iptablesAPI.ListChains(table)
}

func (c *countingIPT) ChainExists(table, chain string) (bool, error) {
	c.note("-S", table, chain, nil)
	return c.iptablesAPI.ChainExists(table, chain)
}

func (c *countingIPT) NewChain(table, chain string) error {
	c.note("-N", table, chain, nil)
	return c.iptablesAPI.NewChain(table, chain)
}

func (c *countingIPT) ClearChain(table, chain string) error {
	c.note("-F", table, chain, nil)
	return c.iptablesAPI.ClearChain(table, chain)
}

func (c *countingIPT) DeleteChain(table, chain string) error {
	c.note("-X", table, chain, nil)
	return c.iptablesAPI.DeleteChain(table, chain)
}

// fakeSnapshot is iptables-save of the fake, counted per chain.
func fakeSnapshot(f *fakeIPT) map[string]map[string]int {
	out := map[string]map[string]int{}
	for k, rules := range f.chains {
		table, chain, _ := strings.Cut(k, "/")
		if out[table] == nil {
			out[table] = map[string]int{}
		}
		out[table][chain] = len(rules)
	}
	return out
}

// fakeRestore applies restore lines to the fake and counts the runs.
func fakeRestore(f *fakeIPT, runs *[][]restoreOp) func([]restoreOp) error {
	return func(ops []restoreOp) error {
		*runs = append(*runs, ops)
		for _, op := range ops {
			var err error
			switch op.verb {
			case ":":
				err = f.NewChain(op.table, op.chain)
			case "-I":
				err = f.Insert(op.table, op.chain, 1, op.spec...)
			case "-A":
				err = f.Append(op.table, op.chain, op.spec...)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
}

func copyFake(f *fakeIPT) *fakeIPT {
	c := &fakeIPT{chains: map[string][]string{}}
	for k, v := range f.chains {
		c.chains[k] = slices.Clone(v)
	}
	return c
}

var batchHost = Host{PrimaryIP: primaryIP, VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("100.64.0.0/16")},
	SNAT: SNAT{NodePortSupport: true, ExcludeCIDRs: []string{"192.168.0.0/16", "10.0.0.0/16"}}}

// On a node's first start every chain is empty: upstream's
// updateHostIptablesRules sequence (a check, then an insert or append,
// per rule; iptablesConnmark.Setup the same) leaves the same rules in the
// same order when the checks are answered from the record and the changes
// written by one iptables-restore, and nothing is asked of iptables one
// command at a time.
func TestBatchFirstStartIsOneRestoreWithUpstreamsRules(t *testing.T) {
	for _, snap := range []struct {
		name string
		of   func(*fakeIPT) map[string]map[string]int
	}{
		{"nat and mangle listed empty", fakeSnapshot},
		{"no table yet (a new namespace)", func(*fakeIPT) map[string]map[string]int { return nil }},
	} {
		t.Run(snap.name, func(t *testing.T) {
			want := newFakeIPT()
			require.NoError(t, hostSNATRules(want, "eth0", batchHost))

			got := newFakeIPT()
			direct := &countingIPT{iptablesAPI: got}
			var runs [][]restoreOp
			b := newBatch(direct, snap.of(got), fakeRestore(got, &runs))
			require.NoError(t, hostSNATRules(b, "eth0", batchHost))
			require.NoError(t, b.commit())

			assert.Equal(t, want.chains, got.chains)
			assert.Empty(t, direct.calls, "no iptables command on a first start")
			require.Len(t, runs, 1, "one iptables-restore")
			assert.Equal(t, ":", runs[0][0].verb, "the chain is declared before its rules")
		})
	}
}

// A restart, or a VPC CIDR change, meets chains that hold rules: iptables
// answers the checks there (it compares rules in its own form), and the
// result is still upstream's reconciliation (updateIptablesRules with
// computeStaleIptablesRules).
func TestBatchRestartAsksIPTablesAndReconcilesAsUpstream(t *testing.T) {
	start := newFakeIPT()
	require.NoError(t, hostSNATRules(start, "eth0", batchHost))
	changed := batchHost
	changed.VPCCIDRs = changed.VPCCIDRs[:1]
	changed.SNAT.ExcludeCIDRs = []string{"172.16.0.0/12"}

	for _, host := range []Host{batchHost, changed, {PrimaryIP: primaryIP, VPCCIDRs: batchHost.VPCCIDRs, SNAT: SNAT{External: true}}} {
		want := copyFake(start)
		require.NoError(t, hostSNATRules(want, "eth0", host))

		got := copyFake(start)
		direct := &countingIPT{iptablesAPI: got}
		var runs [][]restoreOp
		b := newBatch(direct, fakeSnapshot(got), fakeRestore(got, &runs))
		require.NoError(t, hostSNATRules(b, "eth0", host))
		require.NoError(t, b.commit())
		assert.Equal(t, want.chains, got.chains, "%+v", host.SNAT)
		assert.NotEmpty(t, direct.calls)
	}
}

// Calls the record cannot answer write the queue first, so iptables sees
// the rules in the order they were made.
func TestBatchWritesTheQueueBeforeAskingIPTables(t *testing.T) {
	f := newFakeIPT()
	var runs [][]restoreOp
	b := newBatch(f, fakeSnapshot(f), fakeRestore(f, &runs))
	require.NoError(t, b.NewChain("nat", "AWS-X"))
	require.NoError(t, b.Append("nat", "AWS-X", "-j", "RETURN"))
	lines, err := b.List("nat", "AWS-X")
	require.NoError(t, err)
	assert.Equal(t, []string{"-N AWS-X", "-A AWS-X -j RETURN"}, lines)
	assert.Len(t, runs, 1)

	_, err = b.List("nat", "AWS-Y")
	require.Error(t, err, "a chain that is not there")
	require.NoError(t, b.NewChain("nat", "AWS-Y"))
	lines, err = b.List("nat", "AWS-Y")
	require.NoError(t, err)
	assert.Equal(t, []string{"-N AWS-Y"}, lines, "an empty new chain is listed without iptables")
	assert.Len(t, runs, 1)
	require.Error(t, b.NewChain("nat", "AWS-X"), "an existing chain is iptables' to refuse")
	assert.Len(t, runs, 2, "the new chain was written before")
}

// A refused restore fails the call that wrote it, and from then on every
// call goes to iptables (what it took is unknown).
func TestBatchRefusedRestoreFailsAndAsksIPTablesAfter(t *testing.T) {
	f := newFakeIPT()
	direct := &countingIPT{iptablesAPI: f}
	refused := errors.New("iptables-restore: -t nat -A POSTROUTING -j NOPE: exit status 2")
	b := newBatch(direct, fakeSnapshot(f), func([]restoreOp) error { return refused })
	require.NoError(t, b.Append("nat", "POSTROUTING", "-j", "NOPE"))
	assert.ErrorIs(t, b.commit(), refused)
	ok, err := b.Exists("nat", "POSTROUTING", "-j", "NOPE")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, []string{"-C nat POSTROUTING -j NOPE"}, direct.calls)
}

func TestRestoreInputQuotesAndGroupsByTable(t *testing.T) {
	ops := []restoreOp{
		{table: "nat", verb: ":", chain: SNATChain},
		{table: "mangle", verb: "-A", chain: "PREROUTING", spec: []string{"-m", "comment", "--comment", "AWS, primary ENI", "-i", "eni+", "-j", "CONNMARK"}},
		{table: "nat", verb: "-I", chain: SNATChain, spec: []string{"-d", "10.0.0.0/16", "-j", "RETURN"}},
	}
	in, lines := restoreInput(ops)
	assert.Equal(t, `*nat
:AWS-SNAT-CHAIN-0 - [0:0]
-I AWS-SNAT-CHAIN-0 1 -d 10.0.0.0/16 -j RETURN
COMMIT
*mangle
-A PREROUTING -m comment --comment "AWS, primary ENI" -i eni+ -j CONNMARK
COMMIT
`, string(in))
	assert.Equal(t, "-t nat -I AWS-SNAT-CHAIN-0 1 -d 10.0.0.0/16 -j RETURN", lines[3].String())
	assert.Equal(t, "-t mangle -A PREROUTING -m comment --comment \"AWS, primary ENI\" -i eni+ -j CONNMARK", lines[6].String())
	assert.False(t, quotable([]string{"-m", "comment", "--comment", `say "hi"`}), "a quote would end the argument early")
}

func TestParseSaveCountsRulesPerChain(t *testing.T) {
	got, err := parseSave([]byte(`# Generated by iptables-save v1.8.9 (nf_tables)
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:AWS-X - [0:0]
-A POSTROUTING -m comment --comment "AWS SNAT CHAIN" -j AWS-X
-A POSTROUTING -j RETURN
-A AWS-X -j RETURN
COMMIT
# Completed
`))
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]int{"nat": {"PREROUTING": 0, "POSTROUTING": 2, "AWS-X": 1}}, got)

	_, err = parseSave([]byte("*nat\n-Z what\n"))
	assert.ErrorContains(t, err, `iptables-save line 2: unexpected "-Z what"`)
}

// iptablesSave is `iptables -t <table> -S` inside the namespace at path.
func iptablesSave(t *testing.T, path, table string) string {
	t.Helper()
	return inNS(t, path, "iptables", "-t", table, "-S")
}

// inNS runs a command inside the namespace at path, as an operator's
// `ip netns exec` would, and returns its output.
func inNS(t *testing.T, path string, args ...string) string {
	t.Helper()
	var out []byte
	require.NoError(t, nsutil.Do(path, func() (err error) {
		out, err = exec.Command(args[0], args[1:]...).CombinedOutput()
		return err
	}), "%v: %s", args, out)
	return string(out)
}

// With the real iptables (nf_tables): a first start through the batch
// runs no iptables command of its own (one iptables-save, one
// iptables-restore) and leaves what upstream's one command at a time
// leaves; so does a restart with other settings, which asks iptables where
// rules are; a line iptables-restore refuses is named.
func TestBatchedHostRulesMatchOneCommandAtATime(t *testing.T) {
	requireIPTables(t)
	oneByOne, _ := nodeNS(t, "02:aa:00:00:06:01")
	batchedNS, _ := nodeNS(t, "02:aa:00:00:06:02")
	r, ok := findRestore(batchedNS)
	if !ok {
		t.Skip("needs iptables-save and iptables-restore of the nf_tables backend beside iptables")
	}
	run := func(host Host) (direct []string) {
		ipt, err := newIPTables(oneByOne)
		require.NoError(t, err)
		require.NoError(t, hostSNATRules(ipt, "eth0", host))

		ipt, err = newIPTables(batchedNS)
		require.NoError(t, err)
		counted := &countingIPT{iptablesAPI: ipt}
		snap, err := r.snapshot()
		require.NoError(t, err)
		b := newBatch(counted, snap, r.apply)
		require.NoError(t, hostSNATRules(b, "eth0", host))
		require.NoError(t, b.commit())
		for _, table := range []string{"nat", "mangle"} {
			assert.Equal(t, iptablesSave(t, oneByOne, table), iptablesSave(t, batchedNS, table), "%s, %+v", table, host.SNAT)
		}
		return counted.calls
	}
	assert.Empty(t, run(batchHost), "first start")
	changed := batchHost
	changed.VPCCIDRs = changed.VPCCIDRs[:1]
	changed.SNAT.ExcludeCIDRs = []string{"172.16.0.0/12", "0.0.0.0/0"}
	assert.NotEmpty(t, run(changed), "a restart checks the rules that are there")
	run(Host{PrimaryIP: primaryIP, VPCCIDRs: batchHost.VPCCIDRs, SNAT: SNAT{External: true, NodePortSupport: true}})

	err := r.apply([]restoreOp{{table: "nat", verb: "-A", chain: "POSTROUTING", spec: []string{"-j", "RETURN"}}, {table: "nat", verb: "-A", chain: "NOPE", spec: []string{"-j", "RETURN"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "iptables-restore: -t nat -A NOPE -j RETURN: exit status")
	assert.NotContains(t, iptablesSave(t, batchedNS, "nat"), "-A POSTROUTING -j RETURN", "a refused restore takes nothing")
}

// SetupHost runs upstream's CleanUpStaleAWSChains after the rules, through
// the same batch: with the real iptables, the numbered chains a VPC CNI
// before 1.11 left go, and AWS-SNAT-CHAIN-0 stays.
func TestSetupHostCleansUpLegacyChains(t *testing.T) {
	requireIPTables(t)
	mac := "02:aa:00:00:06:03"
	node, _ := nodeNS(t, mac)
	for _, c := range []string{"AWS-SNAT-CHAIN-1", "AWS-SNAT-CHAIN-2", "AWS-CONNMARK-CHAIN-1"} {
		require.NoError(t, nsutil.Do(node, func() error {
			out, err := exec.Command("iptables", "-t", "nat", "-N", c).CombinedOutput()
			if err != nil {
				return errors.New(string(out))
			}
			return nil
		}))
	}
	require.NoError(t, SetupHost(node, Host{PrimaryMAC: mac, PrimaryIP: primaryIP, VPCCIDRs: batchHost.VPCCIDRs}))
	nat := iptablesSave(t, node, "nat")
	assert.Contains(t, nat, "-N AWS-SNAT-CHAIN-0\n")
	assert.Contains(t, nat, "-N AWS-CONNMARK-CHAIN-0\n")
	for _, c := range []string{"AWS-SNAT-CHAIN-1", "AWS-SNAT-CHAIN-2", "AWS-CONNMARK-CHAIN-1"} {
		assert.NotContains(t, nat, "-N "+c+"\n")
	}
}

// The snapshot read over netlink counts what iptables-save counts, in a
// new namespace and in one holding upstream's rules, a legacy chain and a
// filter rule (nat and mangle whole; a table iptables-save fills with
// built-in chains nf_tables does not hold yet, chain by chain).
func TestNetlinkSnapshotCountsAsIPTablesSave(t *testing.T) {
	requireIPTables(t)
	node, _ := nodeNS(t, "02:aa:00:00:06:04")
	r, ok := findRestore(node)
	if !ok {
		t.Skip("needs iptables-save and iptables-restore of the nf_tables backend beside iptables")
	}
	save := func() map[string]map[string]int {
		var out bytes.Buffer
		require.NoError(t, r.run(exec.Command(r.save), &out))
		snap, err := parseSave(out.Bytes())
		require.NoError(t, err)
		return snap
	}
	got, err := nftSnapshot(node)
	require.NoError(t, err)
	assert.Empty(t, got, "a new namespace has no table")

	ipt, err := newIPTables(node)
	require.NoError(t, err)
	require.NoError(t, hostSNATRules(ipt, "eth0", batchHost))
	require.NoError(t, ipt.NewChain("nat", "AWS-SNAT-CHAIN-1"))
	require.NoError(t, ipt.Append("filter", "FORWARD", "-j", "ACCEPT"))
	got, err = nftSnapshot(node)
	require.NoError(t, err)
	want := save()
	for _, table := range []string{"nat", "mangle"} {
		assert.Equal(t, want[table], got[table], table)
	}
	require.Contains(t, got, "filter")
	assert.Equal(t, 1, got["filter"]["FORWARD"])
	for chain, n := range got["filter"] {
		assert.Equal(t, want["filter"][chain], n, "filter/%s", chain)
	}
	assert.Positive(t, got["nat"][SNATChain], "the rules are counted, not only the chains")
}

// Upstream's SetupHostNetwork with ENABLE_POD_ENI in strict mode
// (ChangeLocalRulePriority): `lookup local` moves from priority 0 to 20,
// below the branch pods' priority-10 iif rules; again at a restart, nothing
// changes. Without strict mode the kernel's rule stays at 0.
func TestSetupHostMovesLocalRuleInStrictModeAsUpstream(t *testing.T) {
	requireIPTables(t)
	for _, strict := range []bool{true, false} {
		mac := "02:aa:00:00:06:05"
		node, _ := nodeNS(t, mac)
		host := Host{PrimaryMAC: mac, PrimaryIP: primaryIP, VPCCIDRs: batchHost.VPCCIDRs, PodSGStrict: strict}
		for range 2 {
			require.NoError(t, SetupHost(node, host))
			rules := inNS(t, node, "ip", "rule")
			if strict {
				assert.Contains(t, rules, "20:\tfrom all lookup local")
				assert.False(t, strings.HasPrefix(rules, "0:\t"), "the priority-0 rule is gone: %s", rules)
				assert.Equal(t, 1, strings.Count(rules, "lookup local"), "%s", rules)
			} else {
				assert.True(t, strings.HasPrefix(rules, "0:\tfrom all lookup local\n"), "%s", rules)
				assert.NotContains(t, rules, "20:\tfrom all lookup local")
			}
		}
	}
}

// Upstream's SetupHostNetwork in IPv6 mode (v6Enabled): the IPv4 rule that
// rejects new connections to pods' egress addresses (enableIPv6 →
// setupRuleToBlockNodeLocalAccess), the main ENI rule in the IPv6 family,
// no SNAT or connmark rules (UpdateHostSNATRules returns at once); in
// strict mode the IPv6 local rule at 20 and createIPv6GatewayRule. Again
// at a restart, nothing changes.
func TestSetupHostIPv6AsUpstreamSetupHostNetwork(t *testing.T) {
	requireIPTables(t)
	for _, strict := range []bool{false, true} {
		mac := "02:aa:00:00:06:06"
		node, _ := nodeNS(t, mac)
		host := Host{PrimaryMAC: mac, IPv6: true, PodSGStrict: strict}
		for range 2 {
			require.NoError(t, SetupHost(node, host))
		}
		forward := inNS(t, node, "iptables", "-S", "FORWARD")
		assert.Equal(t, 1, strings.Count(forward, "-A FORWARD -d 169.254.172.0/22 -m conntrack --ctstate NEW -m comment --comment \"Block Node Local Pod access via IPv4\" -j REJECT"), "%s", forward)
		v6 := inNS(t, node, "ip", "-6", "rule")
		assert.Contains(t, v6, "1024:\tfrom all fwmark 0x80/0x80 lookup main")
		assert.NotContains(t, inNS(t, node, "ip", "rule"), "fwmark", "the main ENI rule is IPv6's only")
		assert.NotContains(t, inNS(t, node, "iptables", "-t", "nat", "-S"), "AWS", "no SNAT or connmark rules in IPv6 mode")
		if strict {
			// ip names protocol 58 from /etc/protocols when it has one.
			assert.Regexp(t, `0:\tfrom fe80:ec2::1 ipproto (ipv6-icmp|ipproto-58) lookup local`, v6)
			assert.Contains(t, v6, "20:\tfrom all lookup local")
			assert.Equal(t, 1, strings.Count(v6, "from all lookup local"), "the priority-0 rule is gone: %s", v6)
		} else {
			assert.True(t, strings.HasPrefix(v6, "0:\tfrom all lookup local\n"), "%s", v6)
		}
	}
}
