package nsutil

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func TestNamedNamespaceLifecycle(t *testing.T) {
	if !IsRoot() {
		t.Skip("needs root to create network namespaces")
	}
	name := fmt.Sprintf("enlt-nsutil-%d", os.Getpid())
	before, err := netns.Get()
	require.NoError(t, err)
	defer before.Close()

	p, err := NewNamed(name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = DeleteNamed(name) })

	now, err := netns.Get()
	require.NoError(t, err)
	defer now.Close()
	assert.True(t, before.Equal(now), "creating a namespace must not move the caller's thread")

	names, err := ListNamed("enlt-nsutil-")
	require.NoError(t, err)
	assert.Contains(t, names, name)

	h, err := Handle(p)
	require.NoError(t, err)
	links, err := Retry(func() ([]netlink.Link, error) { return h.LinkList() })
	h.Close()
	require.NoError(t, err)
	require.Len(t, links, 1, "a new namespace holds only lo")
	assert.Equal(t, "lo", links[0].Attrs().Name)

	var inside netns.NsHandle
	require.NoError(t, Do(p, func() error {
		var err error
		inside, err = netns.Get()
		return err
	}))
	defer inside.Close()
	assert.False(t, inside.Equal(before), "Do runs fn inside the namespace")

	require.NoError(t, DeleteNamed(name))
	require.NoError(t, DeleteNamed(name), "deleting twice is fine")
	_, err = os.Stat(p)
	assert.True(t, os.IsNotExist(err))
}

func TestNewNamedRejectsBadNames(t *testing.T) {
	_, err := NewNamed("a/b")
	assert.ErrorContains(t, err, "invalid namespace name")
}

// An operator's `ip netns add` while a lab runs (iproute2's netns_add binds
// /run/netns onto itself when it is not yet a mount point) must not hide
// the lab's namespaces: NewNamed makes RunDir a shared mount point first,
// as netns_add does, so iproute2 lays nothing over it and DeleteNamed still
// reaches every namespace.
func TestDeleteAfterIPNetnsAdd(t *testing.T) {
	if !IsRoot() {
		t.Skip("needs root to create network namespaces")
	}
	for _, tool := range []string{"ip", "findmnt"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	name := fmt.Sprintf("enlt-nsutil-cover-%d", os.Getpid())
	other := name + "-ip"
	p, err := NewNamed(name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "delete", other).Run()
		_ = DeleteNamed(name)
	})
	prop, err := exec.Command("findmnt", "-n", "-o", "PROPAGATION", "--mountpoint", RunDir).Output()
	require.NoError(t, err, "%s is a mount point", RunDir)
	assert.Equal(t, "shared", strings.TrimSpace(string(prop)))

	out, err := exec.Command("ip", "netns", "add", other).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, DeleteNamed(name))
	_, err = os.Stat(p)
	assert.True(t, os.IsNotExist(err), "the namespace's file is gone")
	out, err = exec.Command("ip", "netns", "delete", other).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// A connection DialContext makes starts inside the namespace: it reaches a
// listener on that namespace's loopback, which the caller's own loopback
// does not have.
func TestDialContextConnectsFromInsideTheNamespace(t *testing.T) {
	if !IsRoot() {
		t.Skip("needs root to create network namespaces")
	}
	name := fmt.Sprintf("enlt-nsdial-%d", os.Getpid())
	p, err := NewNamed(name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = DeleteNamed(name) })
	require.NoError(t, Do(p, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}))
	var ln net.Listener
	require.NoError(t, Do(p, func() (err error) {
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	}))
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()

	c, err := DialContext(context.Background(), p, "tcp4", ln.Addr().String())
	require.NoError(t, err, "dial %s inside %s", ln.Addr(), name)
	c.Close()
	if c, err := net.Dial("tcp4", ln.Addr().String()); err == nil {
		c.Close()
		t.Errorf("%s answered on the caller's own loopback: the listener is not in %s", ln.Addr(), name)
	}
}
