package netsetup

import (
	"net/netip"
	"testing"
)

// BenchmarkSetupHost is ipamd's host set-up at a restart (the rules are
// already there): one fwmark rule and about thirty iptables execs in the
// node namespace. It bounds what the rules add to a node's start-up and to
// each VPC CIDR refresh that finds a change.
func BenchmarkSetupHost(b *testing.B) {
	mac := "02:aa:00:00:04:01"
	node, _ := nodeNS(b, mac)
	requireIPTables(b)
	host := Host{PrimaryMAC: mac, PrimaryIP: netip.MustParseAddr("10.0.1.10"),
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("100.64.0.0/16")}, SNAT: SNAT{NodePortSupport: true}}
	if err := SetupHost(node, host); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := SetupHost(node, host); err != nil {
			b.Fatal(err)
		}
	}
}
