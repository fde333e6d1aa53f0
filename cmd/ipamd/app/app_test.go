package app

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/ipamd"
)

// The daemon finds EC2 and IMDS only through the SDK's standard settings
// (AWS_ENDPOINT_URL_EC2, AWS_EC2_METADATA_SERVICE_ENDPOINT), fills its pool,
// and stops cleanly when the context ends.
func TestRunUsesSDKEndpointSettings(t *testing.T) {
	srv, err := fakeec2.New(fakeec2.Config{Seed: 3})
	require.NoError(t, err)
	defer srv.Close()
	vpc, err := srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.1.0.0/16"})
	require.NoError(t, err)
	sn, err := srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: vpc.ID, CIDR: "10.1.0.0/24", AZ: "us-west-2a"})
	require.NoError(t, err)
	inst, err := srv.RunInstance(fakeec2.InstanceSpec{Type: "t3.medium", SubnetID: sn.ID})
	require.NoError(t, err)
	ec2 := httptest.NewServer(srv)
	defer ec2.Close()
	imds := httptest.NewServer(srv.IMDS(inst.ID))
	defer imds.Close()
	t.Setenv("AWS_ENDPOINT_URL_EC2", ec2.URL)
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_PROFILE", "")

	dir, err := os.MkdirTemp("", "ipamd-app")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	env := map[string]string{"WARM_ENI_TARGET": "1", "AWS_VPC_K8S_CNI_LOGLEVEL": "INFO"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	started := make(chan *ipamd.Daemon, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-socket", filepath.Join(dir, "s.sock"), "-checkpoint", filepath.Join(dir, "c.json"),
			"-introspection", "off", "-metrics", "off", "-netns", "none"}, lookup, &stdout, &stderr, func(d *ipamd.Daemon) { started <- d })
	}()
	var d *ipamd.Daemon
	select {
	case d = <-started:
	case err := <-done:
		t.Fatalf("run failed: %v\n%s", err, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("ipamd did not start")
	}
	assert.Equal(t, inst.ID, d.Status().InstanceID)
	for i := 0; d.Status().TotalIPs < 5 && i < 2000; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	assert.Equal(t, 5, d.Status().TotalIPs, "t3.medium: 6 per ENI, 5 warm")
	cancel()
	require.NoError(t, <-done)
	assert.Contains(t, stdout.String(), "ipamd serving on")
}

// A bad target falls back to upstream's default (ipamd/config's tests pin
// that); what upstream's init container refuses (validateEnvVars: the MTU)
// stops ipamd before it reaches IMDS, naming every bad variable at once.
func TestRunRejectsBadEnvironment(t *testing.T) {
	env := map[string]string{"AWS_VPC_ENI_MTU": "lots"}
	err := run(context.Background(), nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &bytes.Buffer{}, &bytes.Buffer{}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AWS_VPC_ENI_MTU")
	env = map[string]string{"AWS_VPC_ENI_MTU": "lots", "DISABLE_METRICS": "nope"}
	err = run(context.Background(), nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &bytes.Buffer{}, &bytes.Buffer{}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AWS_VPC_ENI_MTU", "every bad variable is named at once")
	assert.Contains(t, err.Error(), "DISABLE_METRICS")
	err = run(context.Background(), []string{"-node-labels", "novalue"}, func(string) (string, bool) { return "", false }, &bytes.Buffer{}, &bytes.Buffer{}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "novalue")
}
