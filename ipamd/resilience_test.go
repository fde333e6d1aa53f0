package ipamd

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
)

// A 40 s throttling window on every allocation call, then attaches that
// fail with InternalError more often than the retries cover: the pool
// still reaches its target afterwards and no ENI is left unattached (the
// ENI whose attach failed is deleted).
func TestThrottlingAndInternalErrors(t *testing.T) {
	fw := &faultWindow{
		actions: map[string]bool{"CreateNetworkInterface": true, "AssignPrivateIpAddresses": true, "AttachNetworkInterface": true},
		code:    "RequestLimitExceeded", status: 503,
		from: labStart, to: labStart.Add(40 * time.Second),
		failAction: "AttachNetworkInterface", failFirst: 12, // > awsapi.MaxAttempts
	}
	l := newTestLab(t, withInterceptor(fw))
	n := l.newNode(nodeSpec{Type: "c5.large"})
	// Start-up fills the pool before it serves (upstream's nodeInit,
	// handlePreScaling): its first assign is retried by the SDK's
	// retryer through the window, in lab time.
	n.start()
	require.False(t, fw.firstSuccess().IsZero(), "start-up assigned addresses once the window closed")
	assert.False(t, fw.firstSuccess().Before(fw.to), "nothing gets through the throttling window (first success at %v)", fw.firstSuccess().Sub(labStart))
	assert.False(t, l.clk.Now().Before(fw.to), "start-up returned only after the window")
	assert.Positive(t, fw.errors("RequestLimitExceeded"), "start-up's calls were throttled")

	l.until(6*time.Minute, "the pool reaches 2 ENIs / 18 addresses after the faults", func() bool {
		if st := n.d.Status(); st.AssignedIPs == 0 && st.TotalIPs == 9 {
			n.addOK(1)
		}
		st := n.d.Status()
		return st.ENIs == 2 && st.TotalIPs == 18
	})
	assert.GreaterOrEqual(t, fw.failed, 12, "the attach faults were hit")
	// Upstream's SDK retryer retries a throttled call silently: the
	// retries covered the window, so throttling shows at debug level only.
	assert.Regexp(t, `level=DEBUG msg="EC2 API call throttled" action=\w+ code=RequestLimitExceeded`, n.logs.String())
	assert.NotRegexp(t, `level=(WARN|ERROR).*RequestLimitExceeded`, n.logs.String())
	assert.Contains(t, n.logs.String(), "attaching the new ENI failed; deleting it")
	assert.Len(t, n.ec2ENIs(), 2)
	for _, e := range l.ec2.ENIs() {
		assert.NotEmpty(t, e.InstanceID, "ENI %s leaked", e.ID)
	}
	assert.Equal(t, 18, n.ec2Addresses())
}

// An ipamd killed at each point of an allocation (create done, attach
// done, DeleteOnTermination done, address assign done) and restarted on
// the same checkpoint: EC2 and the datastore agree, pods keep their
// addresses, no address is held by two pods, and a leaked ENI is deleted by
// the leak cleanup.
func TestRestartDuringAllocation(t *testing.T) {
	for _, action := range []string{"CreateNetworkInterface", "AttachNetworkInterface", "ModifyNetworkInterfaceAttribute", "AssignPrivateIpAddresses"} {
		t.Run(action, func(t *testing.T) {
			sw := &switchable{}
			l := newTestLab(t, withInterceptor(sw))
			n := l.newNode(nodeSpec{Type: "m5.large"})
			g := newGate(action)
			if action == "AssignPrivateIpAddresses" {
				// The first assign fills the primary ENI during start-up
				// (upstream's handlePreScaling, before gRPC is served):
				// ipamd is killed inside New.
				sw.set(g)
				killDuringStartup(t, n, g)
			} else {
				killDuringAllocation(t, n, g, sw)
			}
			sw.set(nil)

			unattached := func() int {
				c := 0
				for _, e := range l.ec2.ENIs() {
					if e.InstanceID == "" {
						c++
					}
				}
				return c
			}
			if action == "CreateNetworkInterface" {
				assert.Equal(t, 1, unattached(), "the crash leaves the created ENI unattached")
			}
			n.start()
			l.advance(10*time.Second, time.Second)
			if action != "AssignPrivateIpAddresses" {
				r := n.addPod("pod-1")
				require.True(t, r.Success)
				assert.Equal(t, 1, n.d.Status().AssignedIPs, "the pod added before the crash keeps its one address")
			}
			n.addOK(10)
			l.advance(71*time.Minute, 10*time.Second) // reconcile and two leak scans (≤ 5 min, then 60–65 min later) run
			checkAgreement(t, n)
			if action == "CreateNetworkInterface" {
				assert.Contains(t, n.logs.String(), "Cleaned up leaked CNI ENI")
			}
			assert.Equal(t, 0, unattached())
			for _, e := range l.ec2.ENIs() {
				assert.NotEmpty(t, e.InstanceID, "ENI %s leaked after a crash at %s", e.ID, action)
				if e.DeviceIndex > 0 {
					assert.True(t, e.DeleteOnTermination, "ENI %s DeleteOnTermination", e.ID)
				}
			}
		})
	}
}

// killDuringStartup starts ipamd and kills it (its start-up context
// cancelled) once g holds the action's reply.
func killDuringStartup(t *testing.T, n *testNode, g *gate) {
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan *Daemon, 1)
	go func() {
		d, _ := New(ctx, n.config(), n.opts)
		res <- d
	}()
	select {
	case <-g.hit:
	case <-time.After(30 * time.Second):
		t.Fatalf("start-up never reached %s", g.action)
	}
	cancel()
	close(g.release)
	if d := <-res; d != nil {
		d.Close()
	}
}

// killDuringAllocation starts ipamd, adds a pod so that the pool grows,
// and closes ipamd once g holds the action's reply.
func killDuringAllocation(t *testing.T, n *testNode, g *gate, sw *switchable) {
	l := n.lab
	d1, err := New(t.Context(), n.config(), n.opts)
	require.NoError(t, err)
	n.d = d1
	l.daemons = append(l.daemons, d1)
	n.conn = nil
	l.settle()
	n.connect()
	n.addOK(1)
	sw.set(g)
	for i := 0; !g.wasHit(); i++ {
		require.Less(t, i, 60, "the allocation never reached %s", g.action)
		l.clk.Advance(time.Second)
		time.Sleep(2 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { d1.Close(); close(closed) }()
	<-closed
	close(g.release)
}

// checkAgreement asserts that the datastore holds exactly EC2's ENIs and
// addresses and that no address has two owners.
func checkAgreement(t *testing.T, n *testNode) {
	t.Helper()
	now := n.lab.clk.Now()
	ec2 := map[string]int{}
	for _, e := range n.ec2ENIs() {
		ec2[e.ID] = len(e.SecondaryIPs) + 16*len(e.Prefixes)
	}
	ds := map[string]int{}
	for _, e := range n.d.store.ENIs(now) {
		ds[e.ID] = e.IPs
	}
	assert.Equal(t, ec2, ds, "ENIs and address counts in EC2 vs the datastore")
	seen := map[string]string{}
	for _, a := range n.d.store.Assignments() {
		if other, dup := seen[a.IP.String()]; dup {
			t.Errorf("address %s held by %s and %s", a.IP, other, a.Key)
		}
		seen[a.IP.String()] = a.Key.String()
	}
}

// A released address is not handed out again within IP_COOLDOWN_PERIOD,
// and is afterwards.
func TestCooldown(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m5.large"})
	n.start()
	r := n.addPod("a")
	require.True(t, r.Success)
	first := r.IPAllocationMetadata[0].IPv4Addr
	_, err := n.del("a")
	require.NoError(t, err)
	r = n.addPod("b")
	require.True(t, r.Success)
	assert.NotEqual(t, first, r.IPAllocationMetadata[0].IPv4Addr, "a cooling address is not reused")
	l.advance(29*time.Second, time.Second)
	r = n.addPod("c")
	assert.NotEqual(t, first, r.IPAllocationMetadata[0].IPv4Addr, "still cooling at 29 s")
	l.advance(2*time.Second, time.Second)
	r = n.addPod("d")
	assert.Equal(t, first, r.IPAllocationMetadata[0].IPv4Addr, "reused once the 30 s cooldown is over")
}

// Restore drops the assignment of a pod whose host veth is gone and keeps
// the others; a repeated ADD returns the same address; DEL of an unknown
// pod is the status the plugin treats as success.
func TestRestoreAndIdempotence(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m5.large"})
	n.start()
	ra := n.addPod("a")
	rb := n.addPod("b")
	require.True(t, ra.Success && rb.Success)
	again := n.addPod("a")
	assert.Equal(t, ra.IPAllocationMetadata[0].IPv4Addr, again.IPAllocationMetadata[0].IPv4Addr, "repeated ADD, same address")
	n.stop()

	n.opts.VethExists = func(name string) (bool, error) {
		return name != vethOf("default", "b"), nil
	}
	n.start()
	st := n.d.Status()
	assert.Equal(t, 1, st.AssignedIPs)
	again = n.addPod("a")
	assert.Equal(t, ra.IPAllocationMetadata[0].IPv4Addr, again.IPAllocationMetadata[0].IPv4Addr, "restored pod keeps its address")

	_, err := n.del("b")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "datastore: unknown pod")
	rep, err := n.del("a")
	require.NoError(t, err)
	assert.True(t, rep.Success)
	assert.Equal(t, ra.IPAllocationMetadata[0].IPv4Addr, rep.IPAllocationMetadata[0].IPv4Addr)
}

// On restart EC2 is the truth about addresses: a checkpoint entry for an
// address the node no longer has in EC2 is dropped with a log line, and the
// other pods keep theirs.
func TestRestoreTrustsEC2OverCheckpoint(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m5.large"})
	n.start()
	ra := n.addPod("a")
	rb := n.addPod("b")
	require.True(t, ra.Success && rb.Success)
	n.stop()
	primary := n.ec2PrimaryENI()
	_, err := newSDKClient(t, l.url).UnassignPrivateIpAddresses(t.Context(), &ec2.UnassignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(primary.ID), PrivateIpAddresses: []string{rb.IPAllocationMetadata[0].IPv4Addr},
	})
	require.NoError(t, err)

	n.start()
	assert.Contains(t, n.logs.String(), "restore: dropping checkpoint entry")
	assert.Equal(t, 1, n.d.Status().AssignedIPs, "only pod a's address is still on the node")
	again := n.addPod("a")
	assert.Equal(t, ra.IPAllocationMetadata[0].IPv4Addr, again.IPAllocationMetadata[0].IPv4Addr)
	l.advance(10*time.Second, time.Second)
	checkAgreement(t, n)
}

// Subnet discovery: a new ENI goes to the subnet of the node's VPC and AZ
// tagged kubernetes.io/role/cni with the most free addresses; untagged
// subnets are never used (except the primary ENI's own).
func TestSubnetDiscovery(t *testing.T) {
	l := newTestLab(t)
	small, err := l.ec2.CreateSubnet(fakeecSubnet(l, "subnet-small", "10.0.64.0/26"))
	require.NoError(t, err)
	spec := fakeecSubnet(l, "subnet-big", "10.0.80.0/20")
	spec.Tags = map[string]string{"kubernetes.io/role/cni": "1"}
	big, err := l.ec2.CreateSubnet(spec)
	require.NoError(t, err)
	untagged := fakeecSubnet(l, "subnet-huge", "10.0.128.0/17")
	_, err = l.ec2.CreateSubnet(untagged)
	require.NoError(t, err)
	n := l.newNode(nodeSpec{Type: "c5.large", Subnet: small.ID})
	n.start()
	n.addOK(1)
	l.advance(10*time.Second, time.Second)
	enis := n.ec2ENIs()
	require.Len(t, enis, 2)
	assert.Equal(t, big.ID, enis[1].SubnetID, "the tagged subnet with the most free addresses")

	off := l.newNode(nodeSpec{Type: "c5.large", Subnet: small.ID, Env: map[string]string{"ENABLE_SUBNET_DISCOVERY": "false"}})
	off.start()
	off.addOK(1)
	l.advance(10*time.Second, time.Second)
	enis = off.ec2ENIs()
	require.Len(t, enis, 2)
	assert.Equal(t, small.ID, enis[1].SubnetID, "without discovery, the primary ENI's subnet")
}

// PrivateIpAddressLimitExceeded means the datastore is behind EC2: ipamd
// resyncs the ENI from EC2 at once instead of waiting for the reconcile.
func TestPrivateIPLimitExceededResyncs(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m5.large", Env: map[string]string{"WARM_IP_TARGET": "2"}})
	n.start()
	l.advance(5*time.Second, time.Second)
	require.Equal(t, 2, n.d.Status().TotalIPs)
	// Someone else fills the primary ENI behind ipamd's back.
	primary := n.ec2ENIs()[0]
	api := newSDKClient(t, l.url)
	_, err := api.AssignPrivateIpAddresses(t.Context(), &ec2.AssignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(primary.ID), SecondaryPrivateIpAddressCount: aws.Int32(7),
	})
	require.NoError(t, err)
	n.addOK(2)
	l.advance(10*time.Second, time.Second)
	assert.Contains(t, n.logs.String(), "AssignPrivateIpAddresses returned PrivateIpAddressLimitExceeded. This can happen if the data store is out of sync.") // upstream tryAssignIPs
	// The resync found 9; WARM_IP_TARGET=2 then gives the surplus back.
	assert.Equal(t, 4, n.d.Status().TotalIPs, "2 pods + 2 warm")
	assert.Equal(t, 4, n.ec2Addresses())
	checkAgreement(t, n)
}

// Surplus goes back only as upstream allows: a secondary ENI is freed once
// it is older than ENIMinAge (60 s) and nothing on it is cooling down (30 s);
// with WARM_IP_TARGET, decreases are at least DecreaseGap (30 s) apart.
func TestReleaseRespectsAgeCooldownAndGap(t *testing.T) {
	counter := &timedCounter{}
	l := newTestLab(t, withInterceptor(counter))
	n := l.newNode(nodeSpec{Type: "c5.large"})
	n.start()
	pod, r := n.add()
	require.True(t, r.Success)
	l.advance(10*time.Second, time.Second)
	require.Equal(t, 2, n.d.Status().ENIs)
	_, err := n.del(pod)
	require.NoError(t, err)
	l.advance(40*time.Second, time.Second)
	assert.Equal(t, 2, n.d.Status().ENIs, "the second ENI is younger than 60 s")
	l.until(time.Minute, "the surplus ENI is freed", func() bool { return n.d.Status().ENIs == 1 })
	l.advance(3*time.Second, time.Second) // upstream's freeENI waits 2 s between detach and delete
	assert.Len(t, n.ec2ENIs(), 1)
	assert.Equal(t, 0, len(unattachedENIs(l)), "freed means deleted, not left detached")

	w := l.newNode(nodeSpec{Type: "m5.4xlarge", Env: map[string]string{"WARM_IP_TARGET": "2", "IP_COOLDOWN_PERIOD": "0"}})
	w.start()
	w.addOK(12)
	l.advance(20*time.Second, time.Second)
	for i := 1; i <= 12; i++ {
		_, err := w.del(podName(i))
		require.NoError(t, err)
		if i%3 == 0 {
			l.advance(5*time.Second, time.Second)
		}
	}
	l.until(3*time.Minute, "back to 2 warm addresses", func() bool { return w.d.Status().TotalIPs == 2 })
	times := counter.times("UnassignPrivateIpAddresses")
	require.NotEmpty(t, times)
	for i := 1; i < len(times); i++ {
		assert.Greater(t, times[i].Sub(times[i-1]), 30*time.Second, "decreases at least 30 s apart")
	}
}

// IMDS and DescribeNetworkInterfaces lag EC2 by a few seconds: ipamd waits
// for IMDS with backoff, and the reconcile neither drops fresh addresses
// nor re-adds released ones.
func TestEventualConsistency(t *testing.T) {
	l := newTestLab(t, func(c *fakeec2.Config) { c.IMDSLag = 3 * time.Second; c.DescribeLag = 3 * time.Second })
	n := l.newNode(nodeSpec{Type: "c5.large", Env: map[string]string{"WARM_IP_TARGET": "3"}})
	n.start()
	n.addOK(10)
	l.advance(3*time.Minute, time.Second)
	st := n.d.Status()
	assert.Equal(t, 13, st.TotalIPs)
	assert.Equal(t, 2, st.ENIs)
	for i := 1; i <= 5; i++ {
		_, err := n.del(podName(i))
		require.NoError(t, err)
	}
	l.advance(5*time.Minute, time.Second)
	assert.Equal(t, 8, n.d.Status().TotalIPs)
	checkAgreement(t, n)
}

func unattachedENIs(l *testLab) []string {
	var ids []string
	for _, e := range l.ec2.ENIs() {
		if e.InstanceID == "" {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// The leaked-ENI cleanup deletes unattached aws-K8S- ENIs carrying the
// instance tag (of this cluster when CLUSTER_NAME is set) once they are old
// enough, leaves everything else alone, and is off with
// DISABLE_LEAKED_ENI_CLEANUP=true.
func TestLeakedENICleanup(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		t.Run(fmt.Sprintf("disabled=%v", disabled), func(t *testing.T) {
			l := newTestLab(t)
			api := newSDKClient(t, l.url)
			leakIn := func(subnet, desc string, tags map[string]string) string {
				var ts []types.Tag
				for k, v := range tags {
					ts = append(ts, types.Tag{Key: aws.String(k), Value: aws.String(v)})
				}
				out, err := api.CreateNetworkInterface(t.Context(), &ec2.CreateNetworkInterfaceInput{
					SubnetId: aws.String(subnet), Description: aws.String(desc),
					TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeNetworkInterface, Tags: ts}},
				})
				require.NoError(t, err)
				return aws.ToString(out.NetworkInterface.NetworkInterfaceId)
			}
			leak := func(desc string, tags map[string]string) string { return leakIn(l.subnet.ID, desc, tags) }
			old := labStart.Add(-time.Hour).Format(time.RFC3339)
			ours := leak("aws-K8S-i-gone", map[string]string{"node.k8s.amazonaws.com/instance_id": "i-gone", "node.k8s.amazonaws.com/createdAt": old, "cluster.k8s.amazonaws.com/name": "lab"})
			young := leak("aws-K8S-i-busy", map[string]string{"node.k8s.amazonaws.com/instance_id": "i-busy", "node.k8s.amazonaws.com/createdAt": labStart.Add(50 * time.Minute).Format(time.RFC3339), "cluster.k8s.amazonaws.com/name": "lab"})
			undated := leak("aws-K8S-i-old", map[string]string{"node.k8s.amazonaws.com/instance_id": "i-old", "cluster.k8s.amazonaws.com/name": "lab"})
			otherCluster := leak("aws-K8S-i-x", map[string]string{"node.k8s.amazonaws.com/instance_id": "i-x", "node.k8s.amazonaws.com/createdAt": old, "cluster.k8s.amazonaws.com/name": "other"})
			notOurs := leak("database", map[string]string{"node.k8s.amazonaws.com/instance_id": "i-y"})
			vpc2, err := l.ec2.CreateVPC(fakeec2.VPCSpec{CIDR: "10.9.0.0/16"})
			require.NoError(t, err)
			sn2, err := l.ec2.CreateSubnet(fakeec2.SubnetSpec{VPCID: vpc2.ID, CIDR: "10.9.0.0/24", AZ: "us-west-2a"})
			require.NoError(t, err)
			otherVPC := leakIn(sn2.ID, "aws-K8S-i-z", map[string]string{"node.k8s.amazonaws.com/instance_id": "i-z", "node.k8s.amazonaws.com/createdAt": old, "cluster.k8s.amazonaws.com/name": "lab"})
			env := map[string]string{"CLUSTER_NAME": "lab"}
			if disabled {
				env["DISABLE_LEAKED_ENI_CLEANUP"] = "true"
			}
			n := l.newNode(nodeSpec{Type: "c5.large", Env: env})
			n.start()
			exists := func(id string) bool { _, ok := l.ec2.ENI(id); return ok }
			// Upstream's cleanUpLeakedENIs: the first scan after a random
			// 0–299 s (enilab: a hash of the instance id, the same each run).
			first := leakScanDelay(n.inst.ID, 0)
			require.Less(t, first, 300*time.Second)
			if first > 10*time.Second {
				l.advance(first-10*time.Second, time.Second)
				assert.True(t, exists(ours), "no scan before the start-up delay")
			}
			l.advance(6*time.Minute-max(0, first-10*time.Second), time.Second)
			assert.Equal(t, disabled, exists(ours), "an old leaked ENI of this cluster is deleted unless disabled")
			assert.True(t, exists(young), "an ENI created minutes ago may be mid-allocation on another node")
			assert.True(t, exists(undated), "an ENI without createdAt is stamped, not deleted, at first sight")
			assert.True(t, exists(otherCluster))
			assert.True(t, exists(notOurs))
			assert.True(t, exists(otherVPC), "ENIs of other VPCs are not this node's to judge")
			if e, ok := l.ec2.ENI(undated); ok && !disabled {
				assert.NotEmpty(t, e.Tags["node.k8s.amazonaws.com/createdAt"])
			}
			l.advance(66*time.Minute, 10*time.Second) // an hour plus a new 0–299 s delay
			assert.Equal(t, disabled, exists(young), "deleted by the hourly scan once old enough")
			assert.Equal(t, disabled, exists(undated), "deleted by the hourly scan an hour after it was stamped")
			assert.True(t, exists(otherVPC))
		})
	}
}

// A new ENI whose DeleteOnTermination cannot be set would outlive the
// instance: ipamd gives it back (detach and delete) instead of using it, and
// the pool still reaches its target once ModifyNetworkInterfaceAttribute
// works again.
func TestENIWithoutDeleteOnTerminationIsFreed(t *testing.T) {
	fw := &faultWindow{
		actions: map[string]bool{"ModifyNetworkInterfaceAttribute": true},
		code:    "InternalError", status: 500,
	}
	l := newTestLab(t, withInterceptor(fw))
	n := l.newNode(nodeSpec{Type: "c5.large"})
	n.start() // its security group update (RefreshSGIDs) goes through
	fw.mu.Lock()
	fw.from, fw.to = l.clk.Now(), l.clk.Now().Add(4*time.Minute) // longer than awsapi.MaxAttempts' back-offs
	fw.mu.Unlock()
	n.addOK(1)
	l.advance(3*time.Minute, time.Second)
	assert.Contains(t, n.logs.String(), "cannot set DeleteOnTermination on the new ENI; freeing it")
	assert.Equal(t, 1, n.d.Status().ENIs, "an ENI without DeleteOnTermination is not kept")
	l.until(4*time.Minute, "the pool reaches 2 ENIs / 18 addresses after the faults", func() bool {
		st := n.d.Status()
		return st.ENIs == 2 && st.TotalIPs == 18
	})
	assert.Len(t, l.ec2.ENIs(), 2, "the ENIs given back are deleted")
	for _, e := range n.ec2ENIs() {
		if e.DeviceIndex > 0 {
			assert.True(t, e.DeleteOnTermination, "ENI %s DeleteOnTermination", e.ID)
		}
	}
	checkAgreement(t, n)
}

// Upstream's nodeIPPoolReconcile reads IMDS every ReconcilePeriod and
// calls EC2 only on a mismatch (getENIsFromIMDS, eniIPPoolReconcile,
// verifyAndAddIPsToDatastore): a quiet node makes no EC2 call at all after
// start-up while its reconcile keeps running; an ENI attached behind ipamd's
// back is adopted (DescribeNetworkInterfaces for its tags), and addresses
// EC2 no longer has are dropped once IMDS disagrees and EC2 confirms.
func TestReconcileFollowsEC2(t *testing.T) {
	calls := &callCounter{}
	l := newTestLab(t, withInterceptor(calls))
	n := l.newNode(nodeSpec{Type: "c5.large", Env: map[string]string{"DISABLE_LEAKED_ENI_CLEANUP": "true"}})
	n.start()
	l.advance(30*time.Second, 5*time.Second)
	started := calls.total()
	reconciled := reconcileAdds(t, n)
	l.advance(10*time.Minute, 5*time.Second)
	assert.Equal(t, started, calls.total(), "an idle node makes no EC2 call: %v", calls.byAction())
	assert.GreaterOrEqual(t, reconcileAdds(t, n)-reconciled,
		float64(9*9), "the reconcile ran every minute from IMDS, counting each address as upstream does")

	api := newSDKClient(t, l.url)
	out, err := api.CreateNetworkInterface(t.Context(), &ec2.CreateNetworkInterfaceInput{
		SubnetId: aws.String(l.subnet.ID), SecondaryPrivateIpAddressCount: aws.Int32(3),
	})
	require.NoError(t, err)
	extra := aws.ToString(out.NetworkInterface.NetworkInterfaceId)
	_, err = api.AttachNetworkInterface(t.Context(), &ec2.AttachNetworkInterfaceInput{
		NetworkInterfaceId: aws.String(extra), InstanceId: aws.String(n.inst.ID), DeviceIndex: aws.Int32(1),
	})
	require.NoError(t, err)
	primary := n.ec2PrimaryENI()
	require.Len(t, primary.SecondaryIPs, 9)
	_, err = api.UnassignPrivateIpAddresses(t.Context(), &ec2.UnassignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(primary.ID), PrivateIpAddresses: []string{primary.SecondaryIPs[0].String(), primary.SecondaryIPs[1].String()},
	})
	require.NoError(t, err)
	describes := calls.calls("DescribeNetworkInterfaces")

	l.until(2*time.Minute, "the reconcile adopts the extra ENI", func() bool { return n.d.Status().ENIs == 2 })
	assert.Contains(t, n.logs.String(), "Reconcile and add a new ENI")
	assert.Contains(t, n.logs.String(), "Instance metadata does not match data store!")
	assert.Contains(t, n.logs.String(), "Reconcile and delete IP EC2 no longer has")
	assert.Equal(t, describes+2, calls.calls("DescribeNetworkInterfaces"),
		"one DescribeAllENIs for the new ENI, one GetIPv4sFromEC2 for the primary's mismatch")
	l.advance(30*time.Second, 5*time.Second)
	st := n.d.Status()
	assert.Equal(t, 10, st.TotalIPs, "7 left on the primary ENI + the extra ENI's 3 (≥ WARM_ENI_TARGET × 9: no refill)")
	assert.Equal(t, 10, n.ec2Addresses())
	checkAgreement(t, n)
}

func reconcileAdds(t *testing.T, n *testNode) float64 {
	var m dto.Metric
	require.NoError(t, n.d.metrics.reconcile.WithLabelValues("eniDataStorePoolReconcileAdd").Write(&m))
	return m.GetCounter().GetValue()
}

func (c *callCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for _, v := range c.byAct {
		t += v
	}
	return t
}

func (c *callCounter) byAction() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byAct)
}

// Upstream's cleanUpLeakedENIs waits rand.Intn(300) s before each scan;
// enilab's wait is in the same range and a function of instance id and
// scan number only.
func TestLeakScanDelay_UpstreamCleanUpLeakedENIs(t *testing.T) {
	seen := map[time.Duration]bool{}
	for n := 0; n < 50; n++ {
		d := leakScanDelay("i-0123456789abcdef0", n)
		assert.GreaterOrEqual(t, d, time.Duration(0))
		assert.Less(t, d, 300*time.Second)
		assert.Equal(t, d, leakScanDelay("i-0123456789abcdef0", n), "deterministic")
		seen[d] = true
	}
	assert.Greater(t, len(seen), 10, "delays vary from scan to scan")
}
