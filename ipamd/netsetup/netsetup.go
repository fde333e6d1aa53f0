// Package netsetup is the node networking ipamd does inside a node's network
// namespace (DESIGN §3 "Node networking"): each secondary ENI gets its own
// route table and a source rule so that traffic from its addresses leaves
// through it; the host gets the rule that keeps marked traffic on the main
// table, upstream's SNAT and connmark iptables rules (AWS-SNAT-CHAIN-0,
// AWS-CONNMARK-CHAIN-0, the mangle CONNMARK rules) and the external service
// CIDRs' rules. It also finds the host side of pod veths, which ipamd needs
// when it restores state. Every netlink change goes through a handle bound
// to the node namespace; every iptables command is exec'd from a thread
// locked in it (nsutil.Do), so the machine's root namespace is never
// touched. The SNAT and connmark rules keep upstream's sequence of checks
// and changes, answered and written in one iptables-restore where the
// chains are known (batch.go, from a snapshot read over netlink,
// snapshot.go). The priorities, tables and names are package datapath's;
// the netlink routes and rules are built by package kernel.
package netsetup
