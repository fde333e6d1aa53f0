package ipamd

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/ipamd/config"
)

// Three c5.large nodes with the defaults (WARM_ENI_TARGET=1): a node with
// one pod holds 2 ENIs and 18 addresses, an empty one 1 ENI and 9.
func TestC5LargeDefaultsWarmENITarget(t *testing.T) {
	l := newTestLab(t)
	var nodes []*testNode
	for i := 0; i < 3; i++ {
		n := l.newNode(nodeSpec{Type: "c5.large"})
		n.start()
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		assert.Equal(t, 1, n.d.Status().ENIs)
		assert.Equal(t, 9, n.d.Status().TotalIPs)
	}
	nodes[0].addOK(1)
	nodes[1].addOK(1)
	l.advance(30*time.Second, time.Second)

	warm := 0
	for i, n := range nodes {
		st := n.d.Status()
		warm += st.WarmIPs
		wantENIs, wantIPs := 2, 18
		if i == 2 {
			wantENIs, wantIPs = 1, 9
		}
		assert.Equal(t, wantENIs, st.ENIs, "node %d ENIs", i+1)
		assert.Equal(t, wantIPs, st.TotalIPs, "node %d total IPs", i+1)
		assert.Len(t, n.ec2ENIs(), wantENIs, "node %d ENIs in EC2", i+1)
		assert.Equal(t, wantIPs, n.ec2Addresses(), "node %d addresses in EC2", i+1)
		assert.Equal(t, 29, st.MaxPods)
	}
	assert.Equal(t, 43, warm)
	for _, e := range nodes[0].ec2ENIs() {
		if e.DeviceIndex == 0 {
			assert.Equal(t, nodes[0].inst.ID, e.Tags["node.k8s.amazonaws.com/instance_id"], "the primary ENI is tagged as managed")
			continue
		}
		assert.Equal(t, "aws-K8S-"+nodes[0].inst.ID, e.Description)
		assert.Equal(t, nodes[0].inst.ID, e.Tags["node.k8s.amazonaws.com/instance_id"])
		assert.NotEmpty(t, e.Tags["node.k8s.amazonaws.com/createdAt"])
		assert.True(t, e.DeleteOnTermination)
		assert.Equal(t, 1, e.DeviceIndex)
	}
}

// MINIMUM_IP_TARGET=30 + WARM_IP_TARGET=5 on m5.4xlarge (29 secondary
// addresses per ENI). Upstream arithmetic: short = max(5 − available,
// 30 − total, 0), so 30 at 0 and at 25 pods, 35 at 30, 40 at 35.
func TestMinimumAndWarmIPTarget(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m5.4xlarge", Env: map[string]string{"MINIMUM_IP_TARGET": "30", "WARM_IP_TARGET": "5"}})
	n.start()
	total := func() int { return n.d.Status().TotalIPs }
	l.advance(20*time.Second, time.Second)
	assert.Equal(t, 30, total(), "at 0 pods")
	assert.Equal(t, 2, n.d.Status().ENIs, "29 fit on the primary ENI; the 30th needs a second")
	for _, step := range []struct{ pods, want int }{{25, 30}, {30, 35}, {35, 40}} {
		n.addOK(step.pods - len(n.podNames))
		l.advance(40*time.Second, time.Second)
		assert.Equal(t, step.want, total(), "at %d pods", step.pods)
		assert.Equal(t, step.want, n.ec2Addresses(), "EC2 at %d pods", step.pods)
	}
}

// WARM_IP_TARGET=10 with WARM_ENI_TARGET=0 on m3.2xlarge (29 per ENI): ten
// free addresses are kept, and a second ENI appears only when the first is
// full. Surplus addresses go back after the cooldown and the decrease gap,
// and the emptied ENI is freed once old enough.
func TestWarmIPTargetWithoutWarmENI(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m3.2xlarge", Env: map[string]string{"WARM_IP_TARGET": "10", "WARM_ENI_TARGET": "0"}})
	n.start()
	l.advance(10*time.Second, time.Second)
	st := n.d.Status()
	assert.Equal(t, 10, st.TotalIPs)
	assert.Equal(t, 1, st.ENIs)

	n.addOK(19)
	l.advance(20*time.Second, time.Second)
	st = n.d.Status()
	assert.Equal(t, 29, st.TotalIPs, "19 pods + 10 warm fill the primary ENI exactly")
	assert.Equal(t, 1, st.ENIs, "one ENI until it is full")

	n.addOK(1)
	l.advance(20*time.Second, time.Second)
	st = n.d.Status()
	assert.Equal(t, 30, st.TotalIPs)
	assert.Equal(t, 2, st.ENIs)
	assert.Equal(t, 10, st.WarmIPs)

	for i := 11; i <= 20; i++ {
		_, err := n.del(podName(i))
		require.NoError(t, err)
	}
	l.until(5*time.Minute, "surplus released and the empty ENI freed", func() bool {
		st := n.d.Status()
		return st.TotalIPs == 20 && st.ENIs == 1
	})
	l.advance(3*time.Second, time.Second) // upstream's freeENI waits 2 s between detach and delete
	assert.Equal(t, 20, n.ec2Addresses())
	assert.Len(t, n.ec2ENIs(), 1)
	for _, e := range l.ec2.ENIs() {
		assert.NotEmpty(t, e.InstanceID, "ENI %s left unattached (leaked)", e.ID)
	}
}

func podName(i int) string { return "pod-" + itoa(i) }

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// m5.large: 3 ENIs × 9 = 27 pod addresses; the 28th AddNetwork gets
// Success=false (not a transport error). MAX_ENI=1 caps the pool at 9.
func TestM5LargeLimitsAndMaxENI(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m5.large"})
	n.start()
	for i := 0; i < 27; i++ {
		l.until(time.Minute, "an address for pod "+itoa(i+1), func() bool { return n.d.Status().WarmIPs > 0 })
		n.addOK(1)
	}
	l.advance(30*time.Second, time.Second)
	st := n.d.Status()
	assert.Equal(t, 3, st.ENIs)
	assert.Equal(t, 27, st.TotalIPs)
	assert.Equal(t, 27, st.AssignedIPs)
	_, r := n.add()
	assert.False(t, r.Success, "the 28th pod has no address")
	assert.Contains(t, n.logs.String(), "no available IP/Prefix addresses")

	capped := l.newNode(nodeSpec{Type: "m5.large", Env: map[string]string{"MAX_ENI": "1"}})
	capped.start()
	capped.addOK(5)
	l.advance(30*time.Second, time.Second)
	st = capped.d.Status()
	assert.Equal(t, 1, st.ENIs)
	assert.Equal(t, 9, st.TotalIPs)
	assert.Equal(t, 1, st.MaxENIs)
	capped.addOK(4)
	_, r = capped.add()
	assert.False(t, r.Success, "MAX_ENI=1 caps the node at 9 pods")
	assert.Contains(t, capped.logs.String(), "max ENI limit is already reached")
}

// A node's explicit maxPods wins over the computed one, and the pool never
// grows past it: with maxPods 9 a c5.large whose 9 addresses are all taken
// does not add the second ENI WARM_ENI_TARGET=1 would otherwise ask for.
func TestExplicitMaxPodsCapsThePool(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "c5.large", Modify: func(o *Options) { o.MaxPods = 9 }})
	n.start()
	assert.Equal(t, 9, n.d.Status().MaxPods)
	n.addOK(9)
	l.advance(30*time.Second, time.Second)
	st := n.d.Status()
	assert.Equal(t, 1, st.ENIs)
	assert.Equal(t, 9, st.TotalIPs)
	assert.Len(t, n.ec2ENIs(), 1)
}

// Prefix delegation on m5.large with WARM_PREFIX_TARGET=1: one /28 on the
// primary ENI when idle, a second when the first holds a pod.
func TestPrefixDelegation(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m5.large", Env: map[string]string{"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"}})
	n.start()
	l.advance(10*time.Second, time.Second)
	st := n.d.Status()
	assert.Equal(t, 1, st.ENIs)
	assert.Equal(t, 1, st.Prefixes)
	assert.Equal(t, 16, st.TotalIPs)
	assert.Equal(t, 110, st.MaxPods)
	enis := n.ec2ENIs()
	require.Len(t, enis, 1)
	require.Len(t, enis[0].Prefixes, 1)
	assert.Empty(t, enis[0].SecondaryIPs)

	_, r := n.add()
	require.True(t, r.Success)
	ip := r.IPAllocationMetadata[0].IPv4Addr
	assert.True(t, enis[0].Prefixes[0].Contains(mustAddr(t, ip)), "pod address %s comes from the prefix %v", ip, enis[0].Prefixes[0])
	l.advance(10*time.Second, time.Second)
	st = n.d.Status()
	assert.Equal(t, 1, st.ENIs, "a new prefix on the existing ENI is preferred over a new ENI")
	assert.Equal(t, 2, st.Prefixes)
	assert.Equal(t, 32, st.TotalIPs)
	assert.Equal(t, 31, st.WarmIPs)
}

// A subnet with free addresses but no free aligned /28: EC2 answers
// InsufficientCidrBlocks, and ipamd pauses allocation for 120 s instead of
// hammering EC2 every 5 s.
func TestFragmentedSubnetPausesAllocation(t *testing.T) {
	counter := &callCounter{}
	l := newTestLab(t, withInterceptor(counter))
	frag, err := l.ec2.CreateSubnet(fakeecSubnet(l, "subnet-frag", "10.0.32.0/24"))
	require.NoError(t, err)
	// One explicit reservation inside every /28 leaves addresses free but
	// no /28 that is.
	for i := 0; i < 16; i++ {
		require.NoError(t, l.ec2.CreateSubnetCIDRReservation(frag.ID, "10.0.32."+itoa(i*16+8)+"/32", "explicit"))
	}
	n := l.newNode(nodeSpec{Type: "m5.large", Subnet: frag.ID, Env: map[string]string{"ENABLE_PREFIX_DELEGATION": "true"}})
	n.start()
	l.advance(5*time.Second, time.Second)
	require.GreaterOrEqual(t, counter.errors("InsufficientCidrBlocks"), 1)
	assert.Contains(t, n.logs.String(), "subnet doesn't seem to have enough IPs/Prefixes")
	assert.Equal(t, 0, n.d.Status().Prefixes)

	before := counter.calls("AssignPrivateIpAddresses") + counter.calls("CreateNetworkInterface")
	l.advance(100*time.Second, time.Second)
	assert.Equal(t, before, counter.calls("AssignPrivateIpAddresses")+counter.calls("CreateNetworkInterface"),
		"no allocation attempts during the pause")
	l.advance(30*time.Second, time.Second)
	assert.Greater(t, counter.calls("AssignPrivateIpAddresses")+counter.calls("CreateNetworkInterface"), before,
		"allocation is retried once the pause is over")
	for _, e := range l.ec2.ENIs() {
		assert.NotEmpty(t, e.InstanceID, "ENI %s leaked", e.ID)
	}
}

// With subnet discovery on (the default) and no room for another ENI, an
// exhausted subnet starts no 120 s pause: upstream's tryAssignIPs skips the
// ENI (continue) and increaseDatastorePool sees no error, so every pool
// check asks EC2 again. With discovery off the pause starts.
func TestExhaustedSubnetAtMaxENIs(t *testing.T) {
	for _, discovery := range []string{"true", "false"} {
		t.Run("ENABLE_SUBNET_DISCOVERY="+discovery, func(t *testing.T) {
			counter := &callCounter{}
			l := newTestLab(t, withInterceptor(counter))
			tiny, err := l.ec2.CreateSubnet(fakeecSubnet(l, "subnet-tiny", "10.0.48.0/27"))
			require.NoError(t, err)
			// EC2 may pick only .4-.7 on its own: the primary address and 3 more.
			require.NoError(t, l.ec2.CreateSubnetCIDRReservation(tiny.ID, "10.0.48.8/29", "explicit"))
			require.NoError(t, l.ec2.CreateSubnetCIDRReservation(tiny.ID, "10.0.48.16/28", "explicit"))
			n := l.newNode(nodeSpec{Type: "m5.large", Subnet: tiny.ID, Env: map[string]string{
				"MAX_ENI": "1", "WARM_IP_TARGET": "2", "ENABLE_SUBNET_DISCOVERY": discovery}})
			n.start()
			require.Equal(t, 2, n.d.Status().TotalIPs)
			n.addOK(2)
			l.advance(10*time.Second, time.Second)
			require.GreaterOrEqual(t, counter.errors("InsufficientFreeAddressesInSubnet"), 1)
			assert.Equal(t, 3, n.d.Status().TotalIPs, "every address the subnet had")

			before := counter.calls("AssignPrivateIpAddresses")
			l.advance(100*time.Second, time.Second)
			if discovery == "true" {
				assert.NotContains(t, n.logs.String(), "Recently we had InsufficientCidr error")
				// 20 pool checks, each trying n addresses then 1.
				assert.GreaterOrEqual(t, counter.calls("AssignPrivateIpAddresses")-before, 20, "retried at each pool check")
				return
			}
			assert.Contains(t, n.logs.String(), "subnet doesn't seem to have enough IPs/Prefixes")
			assert.Equal(t, before, counter.calls("AssignPrivateIpAddresses"), "no allocation attempts during the pause")
			l.advance(30*time.Second, time.Second)
			assert.Greater(t, counter.calls("AssignPrivateIpAddresses"), before, "allocation is retried once the pause is over")
		})
	}
}

// Custom networking on m5.large: pods get addresses of the ENIConfig's
// subnet (100.64.0.0/19), the primary ENI serves none, max pods is
// (3 − 1) × 9 + 2 = 20.
func TestCustomNetworking(t *testing.T) {
	l := newTestLab(t)
	n, pods, podSG := customNetworkingNode(t, l)
	n.start()
	l.advance(10*time.Second, time.Second)
	st := n.d.Status()
	assert.Equal(t, 20, st.MaxPods)
	assert.Equal(t, 2, st.ENIs)
	assert.Equal(t, 9, st.TotalIPs)
	_, r := n.add()
	require.True(t, r.Success)
	meta := r.IPAllocationMetadata[0]
	assert.True(t, pods.CIDR.Contains(mustAddr(t, meta.IPv4Addr)), "pod address %s from the config.ENIConfig subnet", meta.IPv4Addr)
	assert.Equal(t, int32(1), meta.DeviceNumber)
	assert.Equal(t, int32(2), meta.RouteTableId)
	n.addOK(17)
	l.advance(30*time.Second, time.Second)
	st = n.d.Status()
	assert.Equal(t, 3, st.ENIs)
	assert.Equal(t, 18, st.TotalIPs, "two secondary ENIs × 9; the primary ENI holds none")
	for _, e := range n.ec2ENIs() {
		if e.DeviceIndex == 0 {
			assert.Empty(t, e.SecondaryIPs, "primary ENI unused")
			continue
		}
		assert.Equal(t, pods.ID, e.SubnetID)
		assert.Equal(t, []string{podSG}, e.SecurityGroups)
	}
	_, r = n.add()
	assert.False(t, r.Success, "18 pod addresses at most")

	bad := l.newNode(nodeSpec{Type: "m5.large", Env: map[string]string{"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true"}})
	_, err := bad.tryStart()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no ENIConfig named "default"`)
}

// customNetworkingNode is an m5.large with custom networking on, its
// ENIConfig (selected by zone) naming subnet-pods (100.64.0.0/19) and the
// group "pods"; it is not started.
func customNetworkingNode(t *testing.T, l *testLab) (*testNode, fakeec2.Subnet, string) {
	t.Helper()
	pods, err := l.ec2.CreateSubnet(fakeecSubnet(l, "subnet-pods", "100.64.0.0/19"))
	require.NoError(t, err)
	podSG, err := l.ec2.CreateSecurityGroup("pods", l.vpc.ID)
	require.NoError(t, err)
	n := l.newNode(nodeSpec{
		Type: "m5.large",
		Env:  map[string]string{"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true", "ENI_CONFIG_LABEL_DEF": "topology.kubernetes.io/zone"},
		Modify: func(o *Options) {
			o.NodeLabels = map[string]string{"topology.kubernetes.io/zone": "us-west-2a"}
			o.ENIConfigs = []config.ENIConfig{{Name: "us-west-2a", Subnet: pods.ID, SecurityGroups: []string{podSG}}}
		},
	})
	return n, pods, podSG
}

// Upstream isDatastorePoolTooLow and getPrefixesNeeded (issue #12): with
// WARM_PREFIX_TARGET=1 a node keeps at least 16 addresses available — 1
// prefix idle, 2 from the 1st pod through the 16th, 3 from the 17th. Then,
// as upstream's FindFreeableCidrs, prefixes whose addresses only cool down
// go back to EC2 at once: cooldown stops reuse, not release.
func TestPrefixWarmTargetKeepsSixteenAvailable(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m5.large", Env: map[string]string{"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"}})
	n.start()
	l.advance(10*time.Second, time.Second)
	assert.Equal(t, 1, n.d.Status().Prefixes, "idle")
	for pod := 1; pod <= 17; pod++ {
		n.addOK(1)
		l.advance(10*time.Second, time.Second)
		st := n.d.Status()
		want := 2
		if pod == 17 {
			want = 3
		}
		require.Equal(t, want, st.Prefixes, "with %d pods", pod)
		require.GreaterOrEqual(t, st.WarmIPs, 16, "with %d pods", pod)
	}
	for pod := range n.podNames {
		_, err := n.del(pod)
		require.NoError(t, err)
	}
	l.advance(10*time.Second, time.Second) // well inside the 30 s cooldown
	st := n.d.Status()
	assert.Equal(t, 1, st.Prefixes, "free prefixes beyond WARM_PREFIX_TARGET go back while their addresses cool")
	enis := n.ec2ENIs()
	require.Len(t, enis, 1)
	assert.Len(t, enis[0].Prefixes, 1)
}
