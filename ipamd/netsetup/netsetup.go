// Package netsetup is the node networking ipamd does inside a node's network
// namespace (DESIGN §3 "Node networking"): each secondary ENI gets its own
// route table and a source rule so that traffic from its addresses leaves
// through it, and the host gets the rule that keeps marked traffic on the
// main table. It also finds the host side of pod veths, which ipamd needs
// when it restores state. Every change goes through a netlink handle bound
// to the node namespace, so no thread of the caller ever switches namespaces
// and the machine's root namespace is never touched. The priorities, tables
// and names are package datapath's; the netlink routes and rules are built
// by package kernel.
package netsetup
