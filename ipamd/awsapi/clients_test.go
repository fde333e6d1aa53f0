package awsapi

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/clock"
)

// A lab's nodes build their clients from one loaded configuration (the
// process's environment): AWS_CA_BUNDLE's roots reach every node's HTTP
// client, and no two nodes share a connection, each keeps its own as each
// aws-node process does.
func TestClientsFromOneConfigKeepTheCABundleAndTheirOwnConnections(t *testing.T) {
	srv, err := fakeec2.New(fakeec2.Config{Clock: clock.NewFake(time.Unix(1000, 0))})
	require.NoError(t, err)
	hs := httptest.NewUnstartedServer(srv)
	var mu sync.Mutex
	conns := 0
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw}), 0o600))
	t.Setenv("AWS_CA_BUNDLE", bundle)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_PROFILE", "")

	cfg, err := LoadConfig(context.Background())
	require.NoError(t, err)
	nodes := []*ec2.Client{
		ClientsFrom(cfg, Endpoints{EC2: hs.URL}).NewEC2("us-west-2"),
		ClientsFrom(cfg, Endpoints{EC2: hs.URL}).NewEC2("us-west-2"),
	}
	for range 2 {
		for _, c := range nodes {
			_, err := c.DescribeNetworkInterfaces(context.Background(), &ec2.DescribeNetworkInterfacesInput{})
			require.NoError(t, err, "TLS to a server whose certificate only AWS_CA_BUNDLE holds")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 2, conns, "one connection per node, each reused")
}
