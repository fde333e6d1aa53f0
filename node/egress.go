package node

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/enilab/enilab/fakeec2"
)

// The VPC's way out as EC2 holds it: one internet gateway, a route table
// for the public subnets, an Elastic IP, NAT gateway and route table for
// each subnet asking for one. The fabric (fabric_egress.go) routes by
// what fakeec2 then says.

// InternetHost is the test host of the lab's internet (TEST-NET-3, RFC
// 5737): it answers ping and, on EchoPort, a TCP echo that also says which
// source address it saw.
var InternetHost = netip.MustParseAddr("203.0.113.10")

// EchoPort is the internet host's TCP echo port.
const EchoPort = 7

// ErrNoInternet is returned for traffic to the internet in a lab that has
// none (no subnet is public or NAT-gatewayed).
var ErrNoInternet = errors.New("the lab has no internet: no subnet is public or has a NAT gateway")

// reservedName reports whether a node name would collide with one of the
// lab's own namespaces.
func reservedName(name string) bool {
	return name == "vpc" || name == "igw" || name == "inet" || strings.HasPrefix(name, "natgw-")
}

// createWayOut creates the EC2 side of egress in fakeec2, before any
// instance runs.
func (l *Lab) createWayOut(vpcID string) error {
	if !l.cfg.wantsInternet(false) {
		return nil
	}
	igw, err := l.ec2.CreateInternetGateway(vpcID)
	if err != nil {
		return fmt.Errorf("node: internet gateway: %w", err)
	}
	public, err := l.ec2.CreateRouteTable(vpcID)
	if err == nil {
		err = l.ec2.CreateRoute(public, "0.0.0.0/0", igw)
	}
	if err != nil {
		return fmt.Errorf("node: public route table: %w", err)
	}
	for _, s := range l.cfg.Subnets {
		if !s.Public {
			continue
		}
		if err := l.ec2.AssociateRouteTable(public, s.ID); err != nil {
			return fmt.Errorf("node: route table of %s: %w", s.ID, err)
		}
	}
	for _, s := range l.cfg.Subnets {
		if s.NATGateway {
			if err := l.createNATGateway(vpcID, s); err != nil {
				return fmt.Errorf("node: NAT gateway of %s: %w", s.ID, err)
			}
		}
	}
	return nil
}

// createNATGateway puts a NAT gateway for s in a public subnet (of s's zone
// if one is) and routes s's default to it.
func (l *Lab) createNATGateway(vpcID string, s SubnetSpec) error {
	host := ""
	for _, o := range l.cfg.Subnets {
		if o.Public && (host == "" || (o.AZ == s.AZ && s.AZ != "")) {
			host = o.ID
		}
	}
	alloc, _, err := l.ec2.AllocateAddress()
	if err != nil {
		return err
	}
	nat, err := l.ec2.CreateNATGateway(host, alloc)
	if err != nil {
		return err
	}
	rt, err := l.ec2.CreateRouteTable(vpcID)
	if err != nil {
		return err
	}
	if err := l.ec2.CreateRoute(rt, "0.0.0.0/0", nat.ID); err != nil {
		return err
	}
	return l.ec2.AssociateRouteTable(rt, s.ID)
}

// Curl opens a TCP connection from inside from (a pod, "node-1/pod-3", or
// a node, "node-1") to the internet host's echo port and returns the source
// address the host saw. A connection that gets no answer returns an error
// wrapping ErrNoReply.
func (l *Lab) Curl(ctx context.Context, from string) (netip.Addr, error) {
	nsPath, err := l.egressSource(from)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("node: curl %s → internet: %w", from, err)
	}
	l.egress.resync()
	seen, err := echoFrom(ctx, nsPath, from)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("node: curl %s → internet (%s:%d): %w", from, InternetHost, EchoPort, err)
	}
	return seen, nil
}

// PingInternet pings the internet host from inside from (a pod or a node).
func (l *Lab) PingInternet(ctx context.Context, from string) error {
	nsPath, err := l.egressSource(from)
	if err != nil {
		return fmt.Errorf("node: ping %s → internet: %w", from, err)
	}
	l.egress.resync()
	if err := PingFrom(ctx, nsPath, InternetHost); err != nil {
		return fmt.Errorf("node: ping %s → internet (%s): %w", from, InternetHost, err)
	}
	return nil
}

// EgressSource returns the source address the internet host saw on the
// last echo connection from `from`.
func (l *Lab) EgressSource(from string) (netip.Addr, bool) {
	if l.egress == nil {
		return netip.Addr{}, false
	}
	return l.egress.echo.seen(from)
}

// NATGateways returns the lab's NAT gateways as EC2 holds them.
func (l *Lab) NATGateways() []fakeec2.NATGateway { return l.ec2.NATGateways() }

// egressSource finds the namespace traffic from `from` leaves.
func (l *Lab) egressSource(from string) (string, error) {
	if l.egress == nil {
		if l.backend == BackendDummy && l.cfg.wantsInternet(false) {
			return "", errors.New("the dummy ENI backend carries no traffic")
		}
		return "", ErrNoInternet
	}
	return l.sourceNS(from, "egress")
}

// sourceNS is the namespace of a node (by name) or of a Ready pod
// ("node/pod") that traffic for what (egress, a VPC host) leaves from.
func (l *Lab) sourceNS(from, what string) (string, error) {
	if n, ok := l.Node(from); ok && !strings.Contains(from, "/") {
		if n.fleet() {
			return "", n.errNoDatapath(what)
		}
		return n.nsPath, nil
	}
	p, ok := l.Pod(from)
	if !ok {
		// A deployment's pod, named as in kubectl (client-1).
		if n, full, bound := l.findBound(from); bound {
			p, ok = n.Pod(full)
		}
	}
	if !ok && !strings.Contains(from, "/") {
		return "", fmt.Errorf("no node or pod %q", from)
	}
	if !ok {
		return "", fmt.Errorf("no pod %q", from)
	}
	if p.Phase != PhaseReady {
		return "", fmt.Errorf("pod %s must be Ready (it is %s)", from, p.Phase)
	}
	if p.NetNS == "" {
		return "", fmt.Errorf("pod %s runs on a node without a datapath (datapath: none)", from)
	}
	return p.NetNS, nil
}
