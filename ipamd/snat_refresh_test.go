package ipamd

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/ipamd/config"
)

// plugENIs gives the node namespace at path a link for each of the
// instance's ENIs, eth0 now and the others as EC2 attaches them (the
// instance's hot-plug).
func plugENIs(t *testing.T, l *testLab, n *testNode, path string) {
	t.Helper()
	h, err := nsutil.Handle(path)
	require.NoError(t, err)
	t.Cleanup(h.Close)
	plug := func(dev int, mac string) {
		hw, err := net.ParseMAC(mac)
		require.NoError(t, err)
		la := netlink.LinkAttrs{Name: fmt.Sprintf("eth%d", dev), HardwareAddr: hw}
		require.NoError(t, h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: fmt.Sprintf("vpc%d", dev)}))
	}
	for _, e := range n.inst.ENIs {
		if e.DeviceIndex == 0 {
			plug(0, e.MAC)
		}
	}
	events, stop := l.ec2.Watch()
	t.Cleanup(stop)
	go func() {
		for ev := range events {
			if ev.Kind == fakeec2.ENIAttached && ev.InstanceID == n.inst.ID && ev.ENI.DeviceIndex > 0 {
				plug(ev.ENI.DeviceIndex, ev.ENI.MAC)
			}
		}
	}()
}

// TestVPCCIDRAssociatedMidRunIsExcludedFromSNATWithinThePeriod: a CIDR
// associated with the VPC while ipamd runs gets its RETURN rules in
// AWS-SNAT-CHAIN-0 and AWS-CONNMARK-CHAIN-0 at the next run of upstream's
// updateCIDRsRulesOnChange, every 30 s (wait.Forever in nodeInit) — not
// before, and the SNAT rule stays last. Lab time is the fake clock.
func TestVPCCIDRAssociatedMidRunIsExcludedFromSNATWithinThePeriod(t *testing.T) {
	path := bareSNATNS(t)
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "c5.large", Modify: func(o *Options) { o.NetNSPath = path }})
	plugENIs(t, l, n, path)
	n.start()

	const newCIDR = "100.65.0.0/16"
	snatReturn := "-A AWS-SNAT-CHAIN-0 -d " + newCIDR + ` -m comment --comment "AWS SNAT CHAIN" -j RETURN`
	connmarkReturn := "-A AWS-CONNMARK-CHAIN-0 -d " + newCIDR + ` -m comment --comment "AWS CONNMARK CHAIN" -j RETURN`
	nat := func() string { return strings.Join(iptablesS(t, path, "nat"), "\n") }
	require.Contains(t, nat(), `-A AWS-SNAT-CHAIN-0 -d 100.64.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j RETURN`, "the VPC's CIDRs at start-up")
	require.NotContains(t, nat(), newCIDR)

	_, err := newSDKClient(t, l.url).AssociateVpcCidrBlock(context.Background(), &ec2.AssociateVpcCidrBlockInput{
		VpcId: aws.String(l.vpc.ID), CidrBlock: aws.String(newCIDR),
	})
	require.NoError(t, err)
	l.advance(29*time.Second, time.Second)
	assert.NotContains(t, nat(), newCIDR, "upstream reads the VPC's CIDRs every 30 s, not sooner")
	l.advance(time.Second, time.Second)
	rules := iptablesS(t, path, "nat")
	assert.Contains(t, rules, snatReturn)
	assert.Contains(t, rules, connmarkReturn)
	var snatChain []string
	for _, r := range rules {
		if strings.HasPrefix(r, "-A AWS-SNAT-CHAIN-0 ") {
			snatChain = append(snatChain, r)
		}
	}
	require.NotEmpty(t, snatChain)
	assert.Contains(t, snatChain[len(snatChain)-1], "-j SNAT --to-source", "the SNAT rule stays last")
}

// Without the iptables binary ipamd's start-up fails, naming it, where
// upstream's nodeInit fails ("ipamd init: failed to set up host network")
// and aws-node exits — before DescribeAllENIs, so EC2 never hears of it.
func TestStartWithoutIPTablesFailsNamingIt(t *testing.T) {
	path := bareSNATNS(t)
	counter := &callCounter{}
	l := newTestLab(t, withInterceptor(counter))
	n := l.newNode(nodeSpec{Type: "c5.large", Modify: func(o *Options) { o.NetNSPath = path }})
	plugENIs(t, l, n, path)
	t.Setenv("PATH", t.TempDir())
	_, err := n.tryStart()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `host network setup: netsetup: SNAT rules: failed to create iptables`)
	assert.Contains(t, err.Error(), `exec: "iptables": executable file not found in $PATH`)
	assert.Zero(t, counter.calls("DescribeNetworkInterfaces"), "nodeInit sets up the host network before it describes the ENIs")
}

// A start with AWS_EXTERNAL_SERVICE_CIDRS programs each CIDR's rule
// (upstream's nodeInit, configureIPRulesForPods after the datastores are
// read), with the host network already set up before the ENIs were
// described.
func TestStartProgramsExternalServiceRules(t *testing.T) {
	path := bareSNATNS(t)
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "c5.large", Env: map[string]string{config.EnvExternalServiceCIDRs: "10.100.0.0/16"},
		Modify: func(o *Options) { o.NetNSPath = path }})
	plugENIs(t, l, n, path)
	n.start()
	assert.Contains(t, inNS(t, path, "ip", "rule"), "1535:\tfrom all to 10.100.0.0/16 lookup main")
	assert.Contains(t, strings.Join(iptablesS(t, path, "nat"), "\n"), "-A AWS-SNAT-CHAIN-0")
}
