package nodelab

import (
	"context"
	"errors"
	"fmt"

	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
)

// Curl connects from a pod or node to the internet host; a connection
// nothing answered wraps scenario.ErrNoAnswer.
func (l *scenarioLab) Curl(ctx context.Context, from, to string) (string, error) {
	if to != scenario.Internet {
		err := l.lab.Reach(ctx, from, to)
		if errors.Is(err, node.ErrNoReply) {
			return "", fmt.Errorf("%w: %w", scenario.ErrNoAnswer, err)
		}
		return "", err
	}
	seen, err := l.lab.Curl(ctx, from)
	if errors.Is(err, node.ErrNoReply) {
		return "", fmt.Errorf("%w: %w", scenario.ErrNoAnswer, err)
	}
	if err != nil {
		return "", err
	}
	return seen.String(), nil
}

// egress is, for every node and pod, the source the internet host last saw
// from it and the addresses an egressSource expect may name.
func (l *scenarioLab) egress(pods []scenario.PodState) map[string]scenario.EgressState {
	var nats []string
	for _, g := range l.lab.NATGateways() {
		nats = append(nats, g.PublicIP.String())
	}
	byNode := map[string]scenario.EgressState{}
	out := map[string]scenario.EgressState{}
	for _, nd := range l.lab.Nodes() {
		st := scenario.EgressState{NATGatewayIPs: nats}
		if in, ok := l.lab.EC2().Instance(nd.InstanceID()); ok {
			st.NodePrimaryIP = in.PrimaryIP.String()
			if in.PublicIP.IsValid() {
				st.NodePublicIP = in.PublicIP.String()
			}
		}
		byNode[nd.Name()] = st
		st.Seen = l.seen(nd.Name())
		out[nd.Name()] = st
	}
	for _, p := range pods {
		st := byNode[p.Node]
		st.PodIP, st.Seen = p.IP, l.seen(p.Name)
		out[p.Name] = st
	}
	return out
}

func (l *scenarioLab) seen(from string) string {
	if a, ok := l.lab.EgressSource(from); ok {
		return a.String()
	}
	return ""
}
