// Package node turns fakeec2 instances into Linux network namespaces so the
// VPC CNI's real datapath runs end to end without AWS.
//
// A Lab owns one fakeec2.Server, the lab clock, a VPC namespace and its
// nodes. A node is an EC2 instance plus a namespace "<prefix>-<node>" whose
// ENI links ("eth<device>", with the ENI's MAC) appear and disappear as
// fakeec2 attaches and detaches ENIs. ipamd runs in-process per node, and a
// kubelet-like runner executes the CNI plugin through libcni from inside the
// node namespace for pods living in "<prefix>-<node>-pod-<n>".
//
// # VPC fabric
//
// With the veth backend every ENI link is one end of a veth pair whose peer
// lives in the VPC namespace "<prefix>-vpc". The VPC namespace is the router
// EC2 is: it routes every address and /28 prefix EC2 has assigned to an ENI
// (followed live from fakeec2's event stream) to that ENI's peer, through an
// onlink next hop (FabricNextHop) whose permanent neighbour entry is the
// ENI's MAC, so delivery needs no ARP from the node. Strict reverse-path
// filtering (rp_filter=1) on the peers is EC2's source/destination check: a
// packet whose source address is not assigned to the ENI it enters by has no
// route back through that peer and is dropped silently. Each subnet's
// gateway (.1) is a local address on the VPC namespace's lo, so ARP for the
// gateway from any node link is answered and "default via <gw>" works; proxy
// ARP on the peers answers for every address routed to another ENI, as EC2
// answers ARP for addresses of the subnet.
//
// The dummy backend makes each ENI a dummy link (no VPC side, no traffic
// between nodes) for kernels that have dummy links; LabConfig.Backend picks
// it, the environment variable ENILAB_ENI_BACKEND overrides the automatic
// choice, and the automatic choice is veth.
//
// Every name a lab creates in the machine's namespace set starts with its
// prefix: "<prefix>-vpc", "<prefix>-<node>", "<prefix>-<node>-pod-<n>" and
// the temporary directory "enilab-<prefix>-*" holding the nodes' logs, the
// CNI cache and the aws-cni links, and the directory of the same name on
// the machine's tmpfs (/dev/shm) holding ipamd sockets and checkpoints, as
// a node's /var/run is a tmpfs (without one, the temporary directory holds
// them too). Links live only inside those namespaces (VPC-side peers are
// "n<node>x<seq>"); nothing is created in, or changed about, the caller's
// namespace.
//
// # Pods
//
// The kubelet-like runner admits a pod only while fewer than maxPods − 2
// pods with addresses exist (the two host-network pods count, as on EKS);
// later pods are Rejected. An admitted pod is Pending until ADD succeeds;
// a failed ADD is followed by DEL and retried after a doubling backoff
// (LabConfig.PodBackoff, default 1 s lab time, up to PodBackoffMax, 20 s) —
// shorter than the kubelet's 10 s–5 min so scenarios stay brief.
//
// # Endpoints inside a node
//
// Inside every node namespace IMDS answers at http://169.254.169.254 and the
// EC2 Query API at http://169.254.169.250 (EC2Endpoint), both on the node's
// lo, so `ip netns exec <prefix>-<node> aws ec2 describe-network-interfaces
// --endpoint-url http://169.254.169.250` sees what an instance sees.
//
// # Teardown
//
// Lab.Close removes every namespace, link, listener, socket and temporary
// directory the lab created; it is idempotent. NewLab and AddNode remove
// what they built when they fail or a panic passes through them. Cancelling
// the ctx given to NewLab closes the lab too, so a caller that ties it to
// SIGINT (signal.NotifyContext) tears down on interrupt. What no deferred
// call survives (SIGKILL, `go test -timeout`) is for Sweep (one prefix) and
// SweepStale (a family of prefixes, by age) on the next start.
package node
