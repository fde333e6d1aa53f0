package kubeapi

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartNamesMissingBinaries(t *testing.T) {
	_, err := Start(context.Background(), Config{BinDir: t.TempDir(), Dir: t.TempDir(), Advertise: netip.MustParseAddr("10.0.1.5")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "etcd")
	assert.Contains(t, err.Error(), "make kube")
}

func TestStartRefusesLoopbackAdvertiseAddress(t *testing.T) {
	bin := t.TempDir()
	for _, b := range []string{"etcd", "kube-apiserver"} {
		require.NoError(t, os.WriteFile(filepath.Join(bin, b), nil, 0o755))
	}
	start := func(*exec.Cmd) error { return nil }
	_, err := Start(context.Background(), Config{BinDir: bin, Dir: t.TempDir(), NetNS: "/run/netns/x", Start: start,
		Advertise: netip.MustParseAddr("127.0.0.1")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "non-loopback")
}
