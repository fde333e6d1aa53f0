package scenario

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Internet is the `to` of a curl or ping step that goes out of the VPC: the
// lab's internet host (203.0.113.10), past the internet gateway.
const Internet = "internet"

// ErrNoAnswer is what a Lab's Curl wraps when the connection got no answer:
// the packets were dropped on the way (curl's "timed out").
var ErrNoAnswer = errors.New("no answer")

// CurlStep opens a TCP connection from a pod (or a node's own namespace) to
// the internet host's echo port.
type CurlStep struct {
	From, To string
	// ExpectOK is true for `expect: ok` (the default), false for `timeout`.
	ExpectOK bool
	// Within retries until the outcome matches, 0 = one attempt.
	Within time.Duration
}

// The addresses an egressSource expect names, each resolved in the lab.
const (
	EgressNodePublicIP  = "nodePublicIP"
	EgressNodePrimaryIP = "nodePrimaryIP"
	EgressPodIP         = "podIP"
	EgressNATGatewayIP  = "natGatewayIP"
)

// EgressKinds lists the egressSource addresses.
var EgressKinds = []string{EgressNodePublicIP, EgressNodePrimaryIP, EgressPodIP, EgressNATGatewayIP}

// EgressSource expects the internet host to have seen IP (one of
// EgressKinds) as the source of From's last connection.
type EgressSource struct {
	// From is a pod ("node-1/pod-3") or a node ("node-1").
	From string
	IP   string
}

// EgressState is what the lab knows of the egress of one pod or node.
type EgressState struct {
	// Seen is the source the internet host saw on From's last connection,
	// "" when none reached it.
	Seen string
	// The candidates: the node's primary and public addresses, the pod's
	// address, the lab's NAT gateways' public addresses.
	NodePrimaryIP, NodePublicIP, PodIP string
	NATGatewayIPs                      []string
}

// want resolves the expected address; "" when the lab has none of that kind.
func (s EgressState) want(kind string) []string {
	switch kind {
	case EgressNodePublicIP:
		return nonEmpty(s.NodePublicIP)
	case EgressNodePrimaryIP:
		return nonEmpty(s.NodePrimaryIP)
	case EgressPodIP:
		return nonEmpty(s.PodIP)
	case EgressNATGatewayIP:
		return s.NATGatewayIPs
	}
	return nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// check compares one egressSource expect with the lab.
func (e *EgressSource) check(s Snapshot) []Mismatch {
	st, ok := s.Egress[e.From]
	key := "egressSource[" + e.From + "]"
	want := st.want(e.IP)
	wantText := e.IP
	if len(want) > 0 {
		wantText = fmt.Sprintf("%s (%s)", e.IP, joinOr(want))
	}
	switch {
	case !ok || st.Seen == "":
		return []Mismatch{{Key: key, WantText: wantText, GotText: "no connection from " + e.From + " reached the internet host"}}
	case !slices.Contains(want, st.Seen):
		return []Mismatch{{Key: key, WantText: wantText, GotText: st.Seen + st.name(st.Seen)}}
	}
	return nil
}

// name says which of the candidates an address is.
func (s EgressState) name(a string) string {
	for _, k := range EgressKinds {
		if slices.Contains(s.want(k), a) {
			return " (" + k + ")"
		}
	}
	return ""
}

func joinOr(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += " or "
		}
		out += x
	}
	return out
}
