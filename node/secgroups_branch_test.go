package node

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/nsutil"
)

func needVLAN(t *testing.T) {
	t.Helper()
	if !VLANSupported() {
		t.Skip("needs the kernel's 8021q (VLAN links for branch ENIs): this kernel lacks it; it runs in the VM (make vm-test, or scripts/vmtest/run.sh -pkgs ./node -run Branch)")
	}
}

// branchLab is a veth lab with a db host behind the db group (tcp 5432
// from db-clients), a policy giving role=db-client pods the db-clients
// group, enforcement on, and one m5.large node with ENABLE_POD_ENI=true in
// the given POD_SECURITY_GROUP_ENFORCING_MODE, running a db client
// (a branch ENI) and a plain pod (the node's ENIs).
func branchLab(t *testing.T, tag string, mode datapath.EnforcingMode) (*Lab, *Node) {
	t.Helper()
	needRoot(t)
	needVLAN(t)
	ctx := context.Background()
	l := testLab(t, tag, LabConfig{
		Seed: 5, TimeScale: 0.02, Backend: BackendVeth,
		Subnets:  []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"}},
		IPAMDEnv: map[string]string{EnvEnablePodENI: "true", datapath.EnvPodSGEnforcing: string(mode)},
	})
	clients, err := l.CreateSecurityGroup("db-clients")
	require.NoError(t, err)
	db, err := l.CreateSecurityGroup("db")
	require.NoError(t, err)
	require.NoError(t, l.AuthorizeSecurityGroup(ctx, clients, fakeec2.SecurityGroupRule{Egress: true, Protocol: "tcp", FromPort: 5432, ToPort: 5432, CIDR: netip.MustParsePrefix("10.0.0.0/16")}))
	require.NoError(t, l.AuthorizeSecurityGroup(ctx, db, fakeec2.SecurityGroupRule{Protocol: "tcp", FromPort: 5432, ToPort: 5432, GroupID: clients}))
	_, err = l.AddVPCHost(ctx, "db", "subnet-a", []string{db}, 5432)
	require.NoError(t, err)
	require.NoError(t, l.SetSecurityGroupPolicies([]SecurityGroupPolicy{{Name: "db-clients", PodSelector: map[string]string{"role": "db-client"}, SecurityGroups: []string{clients}}}))
	require.NoError(t, l.EnforceSecurityGroups(ctx, true))
	n, err := l.AddNode(ctx, Spec{Name: "a", InstanceType: "m5.large"})
	require.NoError(t, err)
	require.NoError(t, n.AddPods(ctx, 1))
	require.NoError(t, l.Deploy(ctx, Deployment{Name: "client", Replicas: 1, Labels: map[string]string{"role": "db-client"}}))
	for _, p := range []string{"a/pod-1", "a/client-1"} {
		ready := assert.Eventually(t, func() bool { st, _ := n.Pod(p); return st.Phase == PhaseReady }, 2*time.Minute, 20*time.Millisecond, "pod %s ready", p)
		if !ready {
			st, _ := n.Pod(p)
			t.Fatalf("pod %s is %s (%q); plugin.log ends:\n%s", p, st.Phase, st.Message, logTail(n.PluginLogPath(), 3000))
		}
	}
	return l, n
}

// listenIn serves TCP on addr:port inside a pod's namespace until the test
// ends, accepting and closing every connection.
func listenIn(t *testing.T, nsPath string, addr netip.Addr, port int) {
	t.Helper()
	var ln net.Listener
	require.NoError(t, nsutil.Do(nsPath, func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(addr, uint16(port)).String())
		return err
	}))
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
}

// dialFrom connects from a namespace to addr:port within CurlTimeout.
func dialFrom(nsPath string, addr netip.Addr, port int) error {
	return nsutil.Do(nsPath, func() error {
		c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(addr, uint16(port)).String(), CurlTimeout)
		if err != nil {
			return noAnswer(err)
		}
		return c.Close()
	})
}

// Security groups for pods end to end, as upstream's
// SetupBranchENIPodNetwork wires a branch ENI pod and the VPC enforces its
// groups: the db client's traffic leaves tagged on its VLAN, the VPC sees
// the branch ENI (db-clients) and the db admits it; the plain pod, on the
// node's ENIs, times out. Strict mode (the default) routes everything of
// the branch pod through its VLAN, so even a pod on the same node reaches
// it only through the VPC and the branch's groups (db-clients admits no
// ingress), and so is the node's own address (upstream's SetupHostNetwork
// moves the local rule to priority 20, below the VLAN's iif rules);
// standard mode delivers on the node (upstream's 512 rule) and the node's
// groups apply too.
func TestBranchENIPodsThroughTheVPCAsUpstreamSetupBranchENIPodNetwork(t *testing.T) {
	for _, mode := range []datapath.EnforcingMode{datapath.EnforcingStrict, datapath.EnforcingStandard} {
		t.Run(string(mode), func(t *testing.T) {
			l, n := branchLab(t, map[datapath.EnforcingMode]string{datapath.EnforcingStrict: "brs", datapath.EnforcingStandard: "brd"}[mode], mode)
			ctx := context.Background()
			client, _ := n.Pod("a/client-1")
			plain, _ := n.Pod("a/pod-1")
			b, ok := l.PodENI("a/client-1")
			require.True(t, ok)
			assert.Equal(t, b.PrivateIP, client.IP.String(), "the pod has its branch ENI's address")

			h, err := nsutil.Handle(n.NetNS())
			require.NoError(t, err)
			defer h.Close()
			_, err = h.LinkByName(datapath.VLANLinkName(b.VlanID))
			assert.NoError(t, err, "the plugin's VLAN link is on the node")
			prefix := datapath.BranchVethPrefix("eni", mode)
			_, err = h.LinkByName(datapath.HostVethName(prefix, PodNamespace, "client-1"))
			assert.NoError(t, err, "host veth named with %q", prefix)

			if !assert.Eventually(t, func() bool { return l.Reach(ctx, "client-1", "db") == nil }, 30*time.Second, 100*time.Millisecond,
				"the db client reaches the db through its branch ENI") {
				t.Fatalf("where the packets stop: %s", branchPath(l, n, b))
			}
			assert.ErrorIs(t, l.Reach(ctx, "a/pod-1", "db"), ErrNoReply, "the plain pod's groups are the node's: the db drops it")

			listenIn(t, client.NetNS, client.IP, 8080)
			err = dialFrom(plain.NetNS, client.IP, 8080)
			if mode == datapath.EnforcingStrict {
				assert.ErrorIs(t, err, ErrNoReply, "strict: the pod on the same node goes through the VPC, and db-clients admits no ingress")
			} else {
				assert.NoError(t, err, "standard: the node delivers to the pod itself (to-pod rule 512)")
			}

			// The node's own address (a kubelet probe's answer takes this
			// way): in strict mode through the VPC, both ways, so it
			// works once, and only once, the node's group admits the
			// pod's.
			inst, ok := l.ec2.Instance(n.InstanceID())
			require.True(t, ok)
			listenIn(t, n.NetNS(), inst.PrimaryIP, 5432)
			err = dialFrom(client.NetNS, inst.PrimaryIP, 5432)
			if mode == datapath.EnforcingStrict {
				assert.ErrorIs(t, err, ErrNoReply, "strict: the node's group admits nothing from db-clients")
			} else {
				assert.NoError(t, err, "standard: the node's own address is local")
			}
			branch, ok := l.ec2.ENI(b.ENIID)
			require.True(t, ok)
			require.NoError(t, l.AuthorizeSecurityGroup(ctx, l.sgID, fakeec2.SecurityGroupRule{Protocol: "tcp", FromPort: 5432, ToPort: 5432, GroupID: branch.SecurityGroups[0]}))
			assert.Eventually(t, func() bool { return dialFrom(client.NetNS, inst.PrimaryIP, 5432) == nil }, 10*time.Second, 200*time.Millisecond,
				"the node's group admits db-clients: the pod reaches its node (strict: the request crosses the VPC too, "+
					"since SetupHostNetwork moved the local rule below the VLAN's; delivered on the node, the VPC would drop the answer as unasked-for)")
		})
	}
}

// logTail is the end of a log file, for a failure message.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, len(b)-n):])
}

// branchPath describes the branch's links on both sides (packet counters,
// neighbours), for a failure message.
func branchPath(l *Lab, n *Node, b PodENI) string {
	out := ""
	for _, side := range []struct{ ns, link string }{
		{n.NetNS(), datapath.VLANLinkName(b.VlanID)},
		{l.vpcPath, branchSubif(l.fabric.peers[n.TrunkENI()], b.VlanID)},
	} {
		h, err := nsutil.Handle(side.ns)
		if err != nil {
			return err.Error()
		}
		lk, err := h.LinkByName(side.link)
		if err != nil {
			out += fmt.Sprintf("%s: %v; ", side.link, err)
			h.Close()
			continue
		}
		st := lk.Attrs().Statistics
		neigh, _ := h.NeighList(lk.Attrs().Index, 0)
		out += fmt.Sprintf("%s (%s, flags %v): rx %d tx %d drops %d/%d, neighbours %v; ", side.link, lk.Attrs().HardwareAddr, lk.Attrs().Flags, st.RxPackets, st.TxPackets, st.RxDropped, st.TxDropped, neigh)
		h.Close()
	}
	return out
}
