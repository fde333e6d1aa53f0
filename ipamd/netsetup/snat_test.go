package netsetup

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	primaryIP = netip.MustParseAddr("10.0.0.10")
	vpc       = []string{"10.0.0.0/16", "100.64.0.0/16"}
)

func specs(rules []iptRule) []string {
	var out []string
	for _, r := range rules {
		s := r.table + "/" + r.chain + " " + strings.Join(r.spec, " ")
		if !r.shouldExist {
			s = "NOT " + s
		}
		out = append(out, s)
	}
	return out
}

// Upstream's buildIptablesSNATRules, default settings: the jump, one
// RETURN per VPC CIDR, the SNAT with --random-fully last.
func TestSNATRulesDefaultAsUpstreamBuildIptablesSNATRules(t *testing.T) {
	head, last := snatRules(SNAT{NodePortSupport: true}, vpc, primaryIP, true)
	assert.Equal(t, []string{
		"nat/POSTROUTING -m comment --comment AWS SNAT CHAIN -j AWS-SNAT-CHAIN-0",
		"nat/AWS-SNAT-CHAIN-0 -d 10.0.0.0/16 -m comment --comment AWS SNAT CHAIN -j RETURN",
		"nat/AWS-SNAT-CHAIN-0 -d 100.64.0.0/16 -m comment --comment AWS SNAT CHAIN -j RETURN",
	}, specs(head))
	assert.Equal(t, "nat/AWS-SNAT-CHAIN-0 ! -o vlan+ -m comment --comment AWS, SNAT -m addrtype ! --dst-type LOCAL -j SNAT --to-source 10.0.0.10 --random-fully",
		specs([]iptRule{last})[0])
}

// Upstream's typeOfSNAT in buildIptablesSNATRules: hashrandom is --random,
// none no flag, prng --random-fully unless iptables lacks it (then
// --random).
func TestSNATRandomizationAsUpstreamTypeOfSNAT(t *testing.T) {
	for _, c := range []struct {
		randomize   string
		randomFully bool
		tail        string
	}{
		{"", true, "10.0.0.10 --random-fully"},
		{RandomPRNG, false, "10.0.0.10 --random"},
		{RandomHash, true, "10.0.0.10 --random"},
		{Sequential, true, "--to-source 10.0.0.10"},
	} {
		_, last := snatRules(SNAT{Randomize: c.randomize}, vpc, primaryIP, c.randomFully)
		assert.True(t, strings.HasSuffix(strings.Join(last.spec, " "), c.tail), "%s (random-fully %v): %v", c.randomize, c.randomFully, last.spec)
	}
}

// Upstream's buildIptablesSNATRules with AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS:
// exclusions follow the VPC's CIDRs with their own comment; 0.0.0.0/0 is
// written without -d.
func TestSNATRulesExclusionsAsUpstreamBuildIptablesSNATRules(t *testing.T) {
	head, _ := snatRules(SNAT{ExcludeCIDRs: []string{"192.168.0.0/16", "0.0.0.0/0"}}, vpc[:1], primaryIP, true)
	assert.Equal(t, []string{
		"nat/POSTROUTING -m comment --comment AWS SNAT CHAIN -j AWS-SNAT-CHAIN-0",
		"nat/AWS-SNAT-CHAIN-0 -d 10.0.0.0/16 -m comment --comment AWS SNAT CHAIN -j RETURN",
		"nat/AWS-SNAT-CHAIN-0 -d 192.168.0.0/16 -m comment --comment AWS SNAT CHAIN EXCLUSION -j RETURN",
		"nat/AWS-SNAT-CHAIN-0 -m comment --comment AWS SNAT CHAIN EXCLUSION -j RETURN",
	}, specs(head))
}

// Upstream's buildIptablesSNATRules with AWS_VPC_K8S_CNI_EXTERNALSNAT=true:
// every SNAT rule should not exist; the mangle rules stay with node-port
// support.
func TestSNATRulesExternalAsUpstreamBuildIptablesSNATRules(t *testing.T) {
	s := SNAT{External: true, NodePortSupport: true}
	head, last := snatRules(s, vpc, primaryIP, true)
	for _, r := range append(head, last) {
		assert.False(t, r.shouldExist, "%v", r)
	}
	for _, r := range mangleRules(s, "eth0") {
		assert.True(t, r.shouldExist, "%v", r)
	}
}

// Upstream's buildIptablesSNATRules, the mangle part, per
// AWS_VPC_CNI_NODE_PORT_SUPPORT × external SNAT, with the mark of
// AWS_VPC_K8S_CNI_CONNMARK and the veth prefix.
func TestMangleRulesAsUpstreamBuildIptablesSNATRules(t *testing.T) {
	assert.Equal(t, []string{
		"mangle/PREROUTING -m comment --comment AWS, primary ENI -i eth0 -m addrtype --dst-type LOCAL --limit-iface-in -j CONNMARK --set-mark 0x80/0x80",
		"mangle/PREROUTING -m comment --comment AWS, primary ENI -i eni+ -j CONNMARK --restore-mark --mask 0x80",
		"mangle/PREROUTING -m comment --comment AWS, primary ENI -i vlan+ -j CONNMARK --restore-mark --mask 0x80",
	}, specs(mangleRules(SNAT{NodePortSupport: true}, "eth0")))
	assert.Equal(t, []string{
		"NOT mangle/PREROUTING -m comment --comment AWS, primary ENI -i ens5 -m addrtype --dst-type LOCAL --limit-iface-in -j CONNMARK --set-mark 0x4000/0x4000",
		"mangle/PREROUTING -m comment --comment AWS, primary ENI -i veth+ -j CONNMARK --restore-mark --mask 0x4000",
		"NOT mangle/PREROUTING -m comment --comment AWS, primary ENI -i vlan+ -j CONNMARK --restore-mark --mask 0x4000",
	}, specs(mangleRules(SNAT{Connmark: 0x4000, VethPrefix: "veth"}, "ens5")))
	for _, r := range mangleRules(SNAT{External: true}, "eth0") {
		assert.False(t, r.shouldExist, "no node ports, external SNAT: %v", r)
	}
}

// Upstream's iptablesConnmark.buildRules: the legacy state-match jump
// goes, the jump and per-CIDR RETURNs are wanted, the restore rule is
// deleted and added again, the set-mark rule comes last.
func TestConnmarkRulesAsUpstreamIptablesConnmarkBuildRules(t *testing.T) {
	head, last := connmarkRules("eni", 0x80, []string{"10.0.0.0/16", "0.0.0.0/0"})
	assert.Equal(t, []string{
		"NOT nat/PREROUTING -i eni+ -m comment --comment AWS, outbound connections -m state --state NEW -j AWS-CONNMARK-CHAIN-0",
		"nat/PREROUTING -i eni+ -m comment --comment AWS, outbound connections -j AWS-CONNMARK-CHAIN-0",
		"nat/AWS-CONNMARK-CHAIN-0 -d 10.0.0.0/16 -m comment --comment AWS CONNMARK CHAIN -j RETURN",
		"nat/AWS-CONNMARK-CHAIN-0 -m comment --comment AWS CONNMARK CHAIN -j RETURN",
		"NOT nat/PREROUTING -m comment --comment AWS, CONNMARK -j CONNMARK --restore-mark --mask 0x80",
		"nat/PREROUTING -m comment --comment AWS, CONNMARK -j CONNMARK --restore-mark --mask 0x80",
	}, specs(head))
	assert.Equal(t, "nat/AWS-CONNMARK-CHAIN-0 -m comment --comment AWS, CONNMARK -j CONNMARK --set-xmark 0x80/0x80", specs([]iptRule{last})[0])
	require.EqualError(t, setupConnmark(newFakeIPT(), "eni", 0x80, nil), "exemptCIDRs cannot be empty")
}

// Upstream's updateIptablesRules and computeStaleIptablesRules over two
// runs: CIDR rules go to the top of their chain (so read in reverse), a
// CIDR gone from the VPC is removed, the SNAT rule stays last, and
// switching to external SNAT empties the chain and removes the connmark
// chain (iptablesConnmark.Cleanup).
func TestHostRulesReconcileAsUpstreamUpdateIptablesRules(t *testing.T) {
	ipt := newFakeIPT()
	host := Host{PrimaryIP: primaryIP, VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("100.64.0.0/16")}, SNAT: SNAT{NodePortSupport: true}}
	require.NoError(t, hostSNATRules(ipt, "eth0", host))
	require.NoError(t, hostSNATRules(ipt, "eth0", host), "idempotent")
	snat := ipt.chains["nat/"+SNATChain]
	require.Len(t, snat, 3)
	assert.Contains(t, snat[0], "100.64.0.0/16")
	assert.Contains(t, snat[1], "10.0.0.0/16")
	assert.Contains(t, snat[2], "-j SNAT")
	assert.Len(t, ipt.chains["nat/"+ConnmarkChain], 3)
	assert.Len(t, ipt.chains["nat/PREROUTING"], 2)
	assert.Len(t, ipt.chains["mangle/PREROUTING"], 3)

	host.VPCCIDRs = host.VPCCIDRs[:1]
	require.NoError(t, hostSNATRules(ipt, "eth0", host))
	snat = ipt.chains["nat/"+SNATChain]
	require.Len(t, snat, 2, "100.64.0.0/16 left the VPC: %v", snat)
	assert.Contains(t, snat[1], "-j SNAT")
	assert.Len(t, ipt.chains["nat/"+ConnmarkChain], 2)

	host.SNAT.External = true
	require.NoError(t, hostSNATRules(ipt, "eth0", host))
	assert.Empty(t, ipt.chains["nat/"+SNATChain])
	assert.Contains(t, ipt.chains, "nat/"+SNATChain, "upstream creates AWS-SNAT-CHAIN-0 even with external SNAT")
	assert.NotContains(t, ipt.chains, "nat/"+ConnmarkChain)
	assert.Empty(t, ipt.chains["nat/PREROUTING"])
	assert.Empty(t, ipt.chains["nat/POSTROUTING"])
	assert.Len(t, ipt.chains["mangle/PREROUTING"], 3, "node-port support keeps the mangle rules")
}

// Upstream's CleanUpStaleAWSChains: only when AWS-SNAT-CHAIN-1 exists,
// every numbered chain above 0 goes. Through SetupHost's batch, whether it
// exists and which chains there are come from the snapshot: a node without
// the legacy chains asks iptables nothing, one with them deletes the same.
func TestCleanUpStaleChainsAsUpstreamCleanUpStaleAWSChains(t *testing.T) {
	legacy := func() *fakeIPT {
		ipt := newFakeIPT()
		for _, c := range []string{SNATChain, ConnmarkChain, "AWS-SNAT-CHAIN-1", "AWS-SNAT-CHAIN-2", "AWS-CONNMARK-CHAIN-1", "KUBE-SERVICES"} {
			require.NoError(t, ipt.NewChain("nat", c))
		}
		return ipt
	}
	ipt := legacy()
	require.NoError(t, cleanUpStaleChains(ipt))
	chains, _ := ipt.ListChains("nat")
	want := []string{"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", SNATChain, ConnmarkChain, "KUBE-SERVICES"}
	assert.ElementsMatch(t, want, chains)

	ipt = legacy()
	direct := &countingIPT{iptablesAPI: ipt}
	var runs [][]restoreOp
	require.NoError(t, cleanUpStaleChains(newBatch(direct, fakeSnapshot(ipt), fakeRestore(ipt, &runs))))
	chains, _ = ipt.ListChains("nat")
	assert.ElementsMatch(t, want, chains, "through the batch")
	assert.ElementsMatch(t, []string{"-X nat AWS-SNAT-CHAIN-1", "-X nat AWS-SNAT-CHAIN-2", "-X nat AWS-CONNMARK-CHAIN-1"}, direct.calls)

	ipt = newFakeIPT()
	direct = &countingIPT{iptablesAPI: ipt}
	b := newBatch(direct, fakeSnapshot(ipt), fakeRestore(ipt, &runs))
	require.NoError(t, hostSNATRules(b, "eth0", batchHost))
	require.NoError(t, cleanUpStaleChains(b))
	require.NoError(t, b.commit())
	assert.Empty(t, direct.calls, "a node without legacy chains: SetupHost's rules and clean-up ask iptables nothing")
}

// fakeIPT is iptables in memory: a rule is its spec joined by spaces, and
// List prints it as `iptables -S` does for the specs used here (quoting
// arguments that hold a space).
type fakeIPT struct{ chains map[string][]string }

func newFakeIPT() *fakeIPT {
	f := &fakeIPT{chains: map[string][]string{}}
	for _, c := range []string{"nat/PREROUTING", "nat/INPUT", "nat/OUTPUT", "nat/POSTROUTING", "mangle/PREROUTING"} {
		f.chains[c] = nil
	}
	return f
}

var errNotExist = errors.New("No chain/target/match by that name.")

func (f *fakeIPT) chain(table, chain string) ([]string, error) {
	rules, ok := f.chains[table+"/"+chain]
	if !ok {
		return nil, errNotExist
	}
	return rules, nil
}

func (f *fakeIPT) Exists(table, chain string, spec ...string) (bool, error) {
	rules, err := f.chain(table, chain)
	return slices.Contains(rules, strings.Join(spec, " ")), err
}

func (f *fakeIPT) Insert(table, chain string, pos int, spec ...string) error {
	rules, err := f.chain(table, chain)
	if err == nil {
		f.chains[table+"/"+chain] = slices.Insert(rules, pos-1, strings.Join(spec, " "))
	}
	return err
}

func (f *fakeIPT) Append(table, chain string, spec ...string) error {
	rules, err := f.chain(table, chain)
	if err == nil {
		f.chains[table+"/"+chain] = append(rules, strings.Join(spec, " "))
	}
	return err
}

func (f *fakeIPT) Delete(table, chain string, spec ...string) error {
	rules, err := f.chain(table, chain)
	i := slices.Index(rules, strings.Join(spec, " "))
	if err != nil || i < 0 {
		return errNotExist
	}
	f.chains[table+"/"+chain] = slices.Delete(rules, i, i+1)
	return nil
}

func (f *fakeIPT) List(table, chain string) ([]string, error) {
	rules, err := f.chain(table, chain)
	out := []string{"-N " + chain}
	for _, r := range rules {
		out = append(out, "-A "+chain+" "+quoteComment(r))
	}
	return out, err
}

// quoteComment quotes the comment of a rule, the one argument with spaces.
func quoteComment(rule string) string {
	for _, c := range []string{"AWS SNAT CHAIN EXCLUSION", "AWS SNAT CHAIN", "AWS, SNAT", "AWS CONNMARK CHAIN", "AWS, CONNMARK", "AWS, outbound connections", "AWS, primary ENI"} {
		if strings.Contains(rule, "--comment "+c+" ") {
			return strings.Replace(rule, "--comment "+c+" ", `--comment "`+c+`" `, 1)
		}
	}
	return rule
}

func (f *fakeIPT) ListChains(table string) ([]string, error) {
	var out []string
	for _, c := range []string{"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"} {
		if _, ok := f.chains[table+"/"+c]; ok {
			out = append(out, c)
		}
	}
	var user []string
	for k := range f.chains {
		if t, c, _ := strings.Cut(k, "/"); t == table && !slices.Contains(out, c) {
			user = append(user, c)
		}
	}
	slices.Sort(user)
	return append(out, user...), nil
}

func (f *fakeIPT) ChainExists(table, chain string) (bool, error) {
	_, ok := f.chains[table+"/"+chain]
	return ok, nil
}

func (f *fakeIPT) NewChain(table, chain string) error {
	if _, ok := f.chains[table+"/"+chain]; ok {
		return errors.New("iptables: Chain already exists.")
	}
	f.chains[table+"/"+chain] = nil
	return nil
}

func (f *fakeIPT) ClearChain(table, chain string) error {
	f.chains[table+"/"+chain] = nil
	return nil
}

func (f *fakeIPT) DeleteChain(table, chain string) error {
	if _, ok := f.chains[table+"/"+chain]; !ok {
		return errNotExist
	}
	delete(f.chains, table+"/"+chain)
	return nil
}

func (f *fakeIPT) HasRandomFully() bool { return true }
