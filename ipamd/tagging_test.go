package ipamd

import (
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/ipamd/awsapi"
)

// failFirst refuses the first n calls of one action (403, which the SDK
// does not retry), then lets them through, counting every call.
type failFirst struct {
	callCounter
	action string
	mu     sync.Mutex
	n      int
}

func (f *failFirst) Before(c fakeec2.Call) fakeec2.Verdict {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Action != f.action || f.n == 0 {
		return fakeec2.Verdict{}
	}
	f.n--
	return fakeec2.Verdict{Err: &fakeec2.Error{Code: "UnauthorizedOperation", Message: "injected", Status: 403}, Fault: "test"}
}

// Upstream's nodeInit tags every managed ENI (TagENI) before it sets it
// up: CreateTags is tried five times with a back-off, and when every try
// fails nodeInit fails ("ipamd init: failed to tag managed ENI") and
// aws-node exits before it fills the pool.
func TestStartFailsWhenTagENIFailsAsNodeInit(t *testing.T) {
	f := &failFirst{action: "CreateTags", n: 100}
	l := newTestLab(t, withInterceptor(f))
	n := l.newNode(nodeSpec{Type: "m5.large"})
	_, err := n.tryStart()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ipamd init: failed to tag managed ENI "+n.ec2PrimaryENI().ID)
	assert.Contains(t, err.Error(), "UnauthorizedOperation")
	assert.Equal(t, tagTries, f.calls("CreateTags"))
	assert.Zero(t, f.calls("AssignPrivateIpAddresses"), "start-up stops before the pool is filled")
	assert.Empty(t, n.ec2PrimaryENI().Tags[awsapi.TagInstanceID])
}

// A CreateTags that fails and then succeeds within TagENI's five tries
// (upstream's retry.NWithBackoff) lets start-up go on, the ENI tagged.
func TestStartTagENIRetriesAsUpstream(t *testing.T) {
	f := &failFirst{action: "CreateTags", n: tagTries - 1}
	l := newTestLab(t, withInterceptor(f))
	n := l.newNode(nodeSpec{Type: "m5.large"})
	n.start()
	assert.Equal(t, tagTries, f.calls("CreateTags"))
	assert.Equal(t, n.inst.ID, n.ec2PrimaryENI().Tags[awsapi.TagInstanceID])
	assert.Equal(t, 9, n.d.Status().TotalIPs)
}

// Upstream's reconcile (eniIPPoolReconcile): an ENI IMDS shows that the
// datastore lacks is tagged before it is added; when TagENI fails, the ENI
// is skipped with "IP pool reconcile: failed to tag managed ENI" and tried
// again at the next reconcile.
func TestReconcileSkipsAnENIItCannotTag(t *testing.T) {
	f := &failFirst{action: "CreateTags"}
	l := newTestLab(t, withInterceptor(f))
	n := l.newNode(nodeSpec{Type: "c5.large", Env: map[string]string{"DISABLE_LEAKED_ENI_CLEANUP": "true"}})
	n.start()
	before := f.calls("CreateTags") // the primary ENI's tags

	api := newSDKClient(t, l.url)
	out, err := api.CreateNetworkInterface(t.Context(), &ec2.CreateNetworkInterfaceInput{
		SubnetId: aws.String(l.subnet.ID), SecondaryPrivateIpAddressCount: aws.Int32(3),
	})
	require.NoError(t, err)
	extra := aws.ToString(out.NetworkInterface.NetworkInterfaceId)
	f.mu.Lock()
	f.n = 2 * tagTries
	f.mu.Unlock()
	_, err = api.AttachNetworkInterface(t.Context(), &ec2.AttachNetworkInterfaceInput{
		NetworkInterfaceId: aws.String(extra), InstanceId: aws.String(n.inst.ID), DeviceIndex: aws.Int32(1),
	})
	require.NoError(t, err)

	l.until(3*time.Minute, "a reconcile gives up tagging the new ENI", func() bool {
		return f.calls("CreateTags") >= before+tagTries
	})
	l.advance(10*time.Second, time.Second)
	assert.Contains(t, n.logs.String(), "IP pool reconcile: failed to tag managed ENI "+extra)
	assert.Equal(t, 1, n.d.Status().ENIs, "not added while it cannot be tagged")

	l.until(5*time.Minute, "a later reconcile tags and adds it", func() bool { return n.d.Status().ENIs == 2 })
	assert.Equal(t, before+2*tagTries+1, f.calls("CreateTags"), "two reconciles of five tries each, then one that succeeds")
}
