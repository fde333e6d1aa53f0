package ipamd

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, url)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// The socket is 0660 and replaces a stale one; the health service answers;
// introspection and metrics show what operators look for.
func TestSocketIntrospectionMetrics(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "c5.large", Env: map[string]string{"CLUSTER_NAME": "lab"}, Modify: func(o *Options) {
		o.IntrospectionAddr = "127.0.0.1:0"
		o.MetricsAddr = "127.0.0.1:0"
	}})
	require.NoError(t, os.WriteFile(n.opts.SocketPath, []byte("stale"), 0o644))
	n.start()
	fi, err := os.Stat(n.opts.SocketPath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o660), fi.Mode().Perm())
	assert.NotZero(t, fi.Mode()&os.ModeSocket)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hr, err := healthpb.NewHealthClient(n.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, hr.Status)

	_, r := n.add()
	require.True(t, r.Success)
	assert.Equal(t, []string{"10.0.0.0/16", "100.64.0.0/16"}, r.VPCv4CIDRs)
	assert.Equal(t, int32(254), r.IPAllocationMetadata[0].RouteTableId, "primary ENI: main table")
	l.advance(10*time.Second, time.Second)

	var enis struct {
		TotalIPs, AssignedIPs int
		ENIs                  map[string]eniJSON
	}
	require.NoError(t, json.Unmarshal([]byte(get(t, "http://"+n.d.IntrospectionAddr()+"/v1/enis")), &enis))
	assert.Equal(t, 18, enis.TotalIPs)
	assert.Equal(t, 1, enis.AssignedIPs)
	assert.Len(t, enis.ENIs, 2)
	var env map[string]string
	require.NoError(t, json.Unmarshal([]byte(get(t, "http://"+n.d.IntrospectionAddr()+"/v1/ipamd-env-settings")), &env))
	assert.Equal(t, "lab", env["CLUSTER_NAME"])
	assert.Equal(t, "1", env["WARM_ENI_TARGET"])
	assert.Contains(t, get(t, "http://"+n.d.IntrospectionAddr()+"/v1/networkutils-env-settings"), "AWS_VPC_ENI_MTU")
	assert.Contains(t, get(t, "http://"+n.d.IntrospectionAddr()+"/v1/eni-configs"), "k8s.amazonaws.com/eniConfig")

	m := get(t, "http://"+n.d.MetricsAddr()+"/metrics")
	for _, want := range []string{
		"awscni_eni_allocated 2", "awscni_eni_max 3", "awscni_ip_max 27", "awscni_total_ip_addresses 18",
		"awscni_assigned_ip_addresses 1", "awscni_total_ipv4_prefixes 0", "awscni_add_ip_req_count 1",
		`awscni_ec2api_req_count{fn="CreateNetworkInterface"} 1`, "awscni_aws_api_latency_ms",
	} {
		assert.Contains(t, m, want)
	}
	_, err = n.del("nobody")
	require.Error(t, err)
	m = get(t, "http://"+n.d.MetricsAddr()+"/metrics")
	assert.True(t, strings.Contains(m, `awscni_del_ip_req_count{reason="PodDeleted"} 1`), m)

	n.stop()
	_, err = os.Stat(n.opts.SocketPath)
	assert.True(t, os.IsNotExist(err), "Close removes the socket")
	require.NoError(t, n.d.Close(), "Close is idempotent")
}

// Every series DESIGN §3 names is served under its upstream name from the
// start, so dashboards and alerts written for the VPC CNI find them
// (labelled series show values in /metrics once first incremented, as
// upstream's do).
func TestMetricNamesAreUpstreams(t *testing.T) {
	m := newMetrics()
	descs := make(chan *prometheus.Desc, 64)
	for _, c := range []prometheus.Collector{
		m.eniAllocated, m.eniMax, m.ipMax, m.totalIPs, m.assignedIPs, m.totalPrefixes, m.addIPReq, m.delIPReq,
		m.awsAPILatency, m.awsAPIErr, m.ec2Req, m.ec2Err, m.ipamdErr, m.noAvailableIP, m.forceRemovedE,
		m.forceRemovedIP, m.reconcile,
	} {
		var already prometheus.AlreadyRegisteredError
		require.ErrorAs(t, m.reg.Register(c), &already, "every collector is on the daemon's registry")
		c.Describe(descs)
	}
	close(descs)
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	registered := map[string]bool{}
	for d := range descs {
		if mm := fqName.FindStringSubmatch(d.String()); mm != nil {
			registered[mm[1]] = true
		}
	}
	for _, name := range []string{
		"awscni_eni_allocated", "awscni_eni_max", "awscni_ip_max", "awscni_total_ip_addresses",
		"awscni_assigned_ip_addresses", "awscni_total_ipv4_prefixes", "awscni_add_ip_req_count",
		"awscni_del_ip_req_count", "awscni_aws_api_latency_ms", "awscni_aws_api_error_count",
		"awscni_ec2api_req_count", "awscni_ec2api_error_count", "awscni_ipamd_error_count",
		"awscni_no_available_ip_addresses", "awscni_force_removed_enis", "awscni_force_removed_ips",
		"awscni_reconcile_count",
	} {
		assert.True(t, registered[name], "metric %s is not served", name)
	}
}
