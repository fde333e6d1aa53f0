package ipamd

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/ipamd/config"
)

// Upstream's nodeInit ends with handlePreScaling and _main serves gRPC
// only after ipamd.New: the socket does not exist while start-up's first
// assign is in flight, and once New returns the pool holds addresses, so
// the first ADD succeeds without waiting for a pool check.
func TestPoolFilledBeforeGRPCServedAsNodeInit(t *testing.T) {
	sw := &switchable{}
	l := newTestLab(t, withInterceptor(sw))
	n := l.newNode(nodeSpec{Type: "m5.large"})
	g := newGate("AssignPrivateIpAddresses")
	sw.set(g)
	res := make(chan error, 1)
	go func() {
		d, err := New(context.Background(), n.config(), n.opts)
		if err == nil {
			n.d = d
			l.daemons = append(l.daemons, d)
		}
		res <- err
	}()
	select {
	case <-g.hit:
	case <-time.After(30 * time.Second):
		t.Fatal("start-up never assigned addresses")
	}
	_, err := os.Stat(n.opts.SocketPath)
	assert.True(t, os.IsNotExist(err), "no socket while the pool is being filled: %v", err)
	close(g.release)
	require.NoError(t, <-res)
	assert.Equal(t, 9, n.d.Status().TotalIPs, "the primary ENI's addresses are there when ipamd serves")
	n.connect()
	_, r := n.add()
	assert.True(t, r.Success, "the first ADD needs no pool check")
}

// Upstream's handlePreScaling: with custom networking, a start-up whose
// pool increase attached no ENI (here the ENIConfig names a security group
// that does not exist) fails nodeInit with "Failed to attach any ENIs for
// custom networking"; aws-node exits and nothing serves the socket.
func TestCustomNetworkingEmptyPoolFailsStartupAsHandlePreScaling(t *testing.T) {
	l := newTestLab(t)
	pods, err := l.ec2.CreateSubnet(fakeecSubnet(l, "subnet-pods", "100.64.0.0/19"))
	require.NoError(t, err)
	n := l.newNode(nodeSpec{
		Type: "m5.large",
		Env:  map[string]string{"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true"},
		Modify: func(o *Options) {
			o.ENIConfigs = []config.ENIConfig{{Name: "default", Subnet: pods.ID, SecurityGroups: []string{"sg-0123456789abcdef0"}}}
		},
	})
	_, err = n.tryStart()
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrCustomNetworkingNoENI), "%v", err)
	assert.Equal(t, "Failed to attach any ENIs for custom networking", err.Error())
	assert.Contains(t, n.logs.String(), "InvalidSecurityGroupID.NotFound", "why the ENI was not created is in ipamd's log")
	_, statErr := os.Stat(n.opts.SocketPath)
	assert.True(t, os.IsNotExist(statErr), "no socket: the plugin cannot connect")
	for _, e := range l.ec2.ENIs() {
		assert.NotEmpty(t, e.InstanceID, "no ENI left behind by the failed start-up: %s", e.ID)
	}
}

// Upstream's handlePreScaling: an error assigning addresses during
// start-up's pool increase (other than subnet exhaustion) is fatal, as
// "error while trying to increase datastore pool".
func TestAssignErrorAtStartupFailsAsHandlePreScaling(t *testing.T) {
	l := newTestLab(t, withInterceptor(&failAction{action: "AssignPrivateIpAddresses", code: "UnauthorizedOperation", status: 403}))
	n := l.newNode(nodeSpec{Type: "m5.large"})
	_, err := n.tryStart()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "error while trying to increase datastore pool")
	assert.Contains(t, err.Error(), "UnauthorizedOperation")
}

// failAction fails every call of one action with an EC2 error code.
type failAction struct {
	callCounter
	action, code string
	status       int
}

func (f *failAction) Before(c fakeec2.Call) fakeec2.Verdict {
	if c.Action == f.action {
		return fakeec2.Verdict{Err: &fakeec2.Error{Code: f.code, Message: "injected", Status: f.status}, Fault: "test"}
	}
	return fakeec2.Verdict{}
}

// Upstream's _main: when RunRPCHandler returns an error ("Failed to set up
// gRPC handler"), aws-node exits. Exited reports that error; after Close it
// reports nil.
func TestGRPCHandlerFailureExitsAsMain(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "m5.large"})
	d := n.start()
	require.NoError(t, d.grpcLis.Close()) // the listening socket fails under the server
	select {
	case err := <-d.Exited():
		require.Error(t, err)
		assert.Contains(t, err.Error(), "gRPC handler")
	case <-time.After(10 * time.Second):
		t.Fatal("ipamd did not exit")
	}
	assert.Contains(t, n.logs.String(), "Failed to set up gRPC handler")

	d2 := n.start()
	d2.Close()
	select {
	case err := <-d2.Exited():
		assert.NoError(t, err, "a closed ipamd did not fail")
	case <-time.After(10 * time.Second):
		t.Fatal("Exited reports nothing after Close")
	}
}

// Upstream's nodeInit: DescribeAllENIs failing (after the SDK's retries)
// fails start-up with "ipamd init: failed to retrieve attached ENIs info".
func TestDescribeENIsErrorAtStartupFailsAsNodeInit(t *testing.T) {
	l := newTestLab(t, withInterceptor(&failAction{action: "DescribeNetworkInterfaces", code: "UnauthorizedOperation", status: 403}))
	n := l.newNode(nodeSpec{Type: "m5.large"})
	_, err := n.tryStart()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ipamd init: failed to retrieve attached ENIs info")
	assert.Contains(t, err.Error(), "UnauthorizedOperation")
}
