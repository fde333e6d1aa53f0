package ipamd

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/enilab/enilab/ipamd/rpc"
)

// FuzzAddDelNetwork sends arbitrary AddNetwork and DelNetwork requests (any
// process on the node can reach the socket) to one daemon over gRPC: no
// panic; an address is never handed to two live pods; a DEL of what an ADD
// was granted frees it, as upstream's rpc_handler AddNetwork/DelNetwork and
// the datastore's AssignPodIPv4Address/UnassignPodIPAddress pair do.
func FuzzAddDelNetwork(f *testing.F) {
	f.Add("web-1", "default", "c-1", "/var/run/netns/c-1", "eth0", "aws-cni", rpc.Version, true)
	f.Add("", "", "", "", "", "", "", false)
	f.Add("p", "kube-system", "c-2", "", "eth1", "other-net", "0.0.0", true)
	f.Add("dup", "default", "c-1", "/proc/1/ns/net", "eth0", "aws-cni", "", false)

	lab := newTestLab(f)
	n := lab.newNode(nodeSpec{Type: "m5.large"})
	d := n.start()
	owner := map[string]string{} // address → "container/ifname" holding it

	f.Fuzz(func(t *testing.T, pod, ns, container, netns, ifName, network, clientVersion string, del bool) {
		for _, s := range []string{pod, ns, container, netns, ifName, network, clientVersion} {
			if !utf8.ValidString(s) {
				return // proto3 strings are UTF-8: the client refuses to send these
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		key := network + "/" + container + "/" + ifName // upstream's datastore key
		add, err := n.client.AddNetwork(ctx, &rpc.AddNetworkRequest{K8S_POD_NAME: pod, K8S_POD_NAMESPACE: ns,
			K8S_POD_INFRA_CONTAINER_ID: container, ContainerID: container, Netns: netns, IfName: ifName,
			NetworkName: network, ClientVersion: clientVersion})
		if serverFault(t, "AddNetwork", err) {
			return
		}
		if add.Success {
			for _, m := range add.IPAllocationMetadata {
				if m.IPv4Addr == "" {
					continue
				}
				if held, ok := owner[m.IPv4Addr]; ok && held != key {
					t.Fatalf("%s handed to %s while %s holds it", m.IPv4Addr, key, held)
				}
				owner[m.IPv4Addr] = key
			}
		}
		if !del {
			return
		}
		rep, err := n.client.DelNetwork(ctx, &rpc.DelNetworkRequest{K8S_POD_NAME: pod, K8S_POD_NAMESPACE: ns,
			K8S_POD_INFRA_CONTAINER_ID: container, ContainerID: container, IfName: ifName,
			NetworkName: network, ClientVersion: clientVersion, Reason: "PodDeleted"})
		if unknownPod(err) {
			// Upstream's answer to a DEL of a pod it does not hold (the
			// ADD failed, or was never made): an error carrying
			// "datastore: unknown pod", which the plugin takes as done.
			if _, held := heldBy(owner, key); held {
				t.Fatalf("DEL of %s: unknown pod, but ADD granted it an address", key)
			}
			return
		}
		if serverFault(t, "DelNetwork", err) || !rep.Success {
			return
		}
		for ip, held := range owner {
			if held == key {
				delete(owner, ip)
			}
		}
		if got := d.Status().AssignedIPs; got != len(owner) {
			t.Fatalf("after DEL of %s ipamd holds %d assigned addresses, the pods hold %d", key, got, len(owner))
		}
	})
}

// unknownPod reports whether err is upstream's answer to a DEL of a pod
// ipamd does not hold.
func unknownPod(err error) bool {
	return status.Code(err) == codes.Unknown && strings.Contains(status.Convert(err).Message(), "datastore: unknown pod")
}

// heldBy returns an address key holds, if any.
func heldBy(owner map[string]string, key string) (string, bool) {
	for ip, held := range owner {
		if held == key {
			return ip, true
		}
	}
	return "", false
}

// serverFault reports whether call failed; a refusal of the request
// (InvalidArgument, FailedPrecondition, …) is an answer, while Unknown,
// Internal and Unavailable mean the server broke.
func serverFault(t *testing.T, call string, err error) bool {
	t.Helper()
	if err == nil {
		return false
	}
	switch status.Code(err) {
	case codes.Unknown, codes.Internal, codes.Unavailable, codes.DeadlineExceeded:
		t.Fatalf("%s: the server broke: %v", call, err)
	}
	return true
}
