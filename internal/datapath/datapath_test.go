package datapath

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Upstream GenerateHostVethName (pkg/networkutils/network.go): "eni" + 11 hex
// digits of sha1("default.pod-1").
func TestHostVethNameIsUpstreams(t *testing.T) {
	assert.Equal(t, "eni83dbd022cd5", HostVethName("eni", "default", "pod-1"))
	assert.Len(t, HostVethName("abcd", "kube-system", "coredns-1"), 15)
	// printf 'default.nginx' | sha1sum | cut -c1-11
	assert.Equal(t, "enic440f455693", HostVethName("eni", "default", "nginx"))
	assert.NotEqual(t, HostVethName("eni", "default", "nginx"), HostVethName("eni", "default", "nginx2"))
	assert.NotEqual(t, HostVethName("eni", "default", "nginx"), HostVethName("eni", "kube-system", "nginx"))
}

func TestENITable(t *testing.T) {
	assert.Equal(t, 254, ENITable(0))
	assert.Equal(t, 2, ENITable(1))
	assert.Equal(t, 4, ENITable(3))
}

func TestPodNames(t *testing.T) {
	assert.Equal(t, "node-1/pod-3", PodName("node-1", 3))
	node, n, err := ParsePodName("node-1/pod-3")
	require.NoError(t, err)
	assert.Equal(t, "node-1", node)
	assert.Equal(t, 3, n)
	for _, bad := range []string{"node-1", "/pod-1", "node-1/pod-0", "node-1/web-1", "node-1/pod-x"} {
		_, _, err := ParsePodName(bad)
		assert.Error(t, err, bad)
	}
}
