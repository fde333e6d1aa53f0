package ipamd

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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

	checkIntrospection(t, n)

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

// checkIntrospection pins upstream's introspection shapes
// (eniV1RequestHandler, eniConfigRequestHandler, ipamdEnvV1RequestHandler,
// networkEnvV1RequestHandler, the "/" listing of setupIntrospectionServer).
func checkIntrospection(t *testing.T, n *testNode) {
	base := "http://" + n.d.IntrospectionAddr()
	var byCard map[string]struct {
		TotalIPs, AssignedIPs int
		ENIs                  map[string]map[string]json.RawMessage
	}
	require.NoError(t, json.Unmarshal([]byte(get(t, base+"/v1/enis")), &byCard))
	require.Len(t, byCard, 1)
	card := byCard["0"]
	assert.Equal(t, 18, card.TotalIPs)
	assert.Equal(t, 1, card.AssignedIPs)
	require.Len(t, card.ENIs, 2)
	var assigned int
	for id, e := range card.ENIs {
		keys := slices.Sorted(maps.Keys(e))
		assert.Equal(t, []string{"AvailableIPv4Cidrs", "DeviceNumber", "ID", "IPv6Cidrs", "IsEFA", "IsExcludedForPodIPs",
			"IsPrimary", "IsTrunk", "RouteTableID", "SubnetID"}, keys, "ENI %s", id)
		var cidrs map[string]struct {
			Cidr          struct{ IP, Mask string }
			IPAddresses   map[string]map[string]json.RawMessage
			IsPrefix      bool
			AddressFamily string
		}
		require.NoError(t, json.Unmarshal(e["AvailableIPv4Cidrs"], &cidrs))
		for k, c := range cidrs {
			assert.Equal(t, "/////w==", c.Cidr.Mask, "%s: a net.IPNet as upstream marshals it", k)
			assert.Equal(t, strings.TrimSuffix(k, "/32"), c.Cidr.IP)
			for _, a := range c.IPAddresses {
				assigned++
				assert.JSONEq(t, `{"networkName":"aws-cni","containerID":"","ifName":""}`, string(a["IPAMKey"]), "container id blanked")
				assert.Contains(t, string(a["IPAMMetadata"]), `"k8sPodName":"pod-1"`)
			}
		}
	}
	assert.Equal(t, 1, assigned)
	assert.Equal(t, `"default"`, get(t, base+"/v1/eni-configs"), "the node's ENIConfig name (GetNodeSpecificENIConfigName)")
	assert.JSONEq(t, `{"WARM_IP_TARGET":0,"WARM_ENI_TARGET":1,"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG":false,
		"AWS_MANAGE_ENIS_NON_SCHEDULABLE":false,"ENABLE_SUBNET_DISCOVERY":true}`, get(t, base+"/v1/ipamd-env-settings"))
	assert.JSONEq(t, `{"AWS_VPC_K8S_CNI_CONNMARK":128,"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS":null,"AWS_VPC_K8S_CNI_EXTERNALSNAT":false,
		"AWS_EXTERNAL_SERVICE_CIDRS":null,"AWS_VPC_ENI_MTU":9001,"AWS_VPC_K8S_CNI_VETHPREFIX":"eni",
		"AWS_VPC_CNI_NODE_PORT_SUPPORT":true,"AWS_VPC_K8S_CNI_RANDOMIZESNAT":2}`, get(t, base+"/v1/networkutils-env-settings"))
	var root struct{ AvailableCommands []string }
	require.NoError(t, json.Unmarshal([]byte(get(t, base+"/")), &root))
	assert.ElementsMatch(t, []string{"/v1/enis", "/v1/eni-configs", "/v1/ipamd-env-settings", "/v1/networkutils-env-settings"}, root.AvailableCommands)
}

// upstreamSeries are the series upstream v1.23.1 registers
// (utils/prometheusmetrics PrometheusRegister, pkg/version RegisterMetric):
// name → type and label names.
var upstreamSeries = map[string]struct {
	typ    dto.MetricType
	labels []string
}{
	"awscni_ipamd_error_count":                          {dto.MetricType_COUNTER, []string{"fn"}},
	"awscni_ipamd_action_inprogress":                    {dto.MetricType_GAUGE, []string{"fn"}},
	"awscni_eni_max":                                    {dto.MetricType_GAUGE, nil},
	"awscni_ip_max":                                     {dto.MetricType_GAUGE, nil},
	"awscni_reconcile_count":                            {dto.MetricType_COUNTER, []string{"fn"}},
	"awscni_add_ip_req_count":                           {dto.MetricType_COUNTER, nil},
	"awscni_del_ip_req_count":                           {dto.MetricType_COUNTER, []string{"reason"}},
	"awscni_pod_eni_error_count":                        {dto.MetricType_COUNTER, []string{"fn"}},
	"awscni_aws_api_latency_ms":                         {dto.MetricType_SUMMARY, []string{"api", "error", "status"}},
	"awscni_aws_api_error_count":                        {dto.MetricType_COUNTER, []string{"api", "error"}},
	"awscni_aws_utils_error_count":                      {dto.MetricType_COUNTER, []string{"error", "fn"}},
	"awscni_ec2api_req_count":                           {dto.MetricType_COUNTER, []string{"fn"}},
	"awscni_ec2api_error_count":                         {dto.MetricType_COUNTER, []string{"fn"}},
	"awscni_eni_allocated":                              {dto.MetricType_GAUGE, nil},
	"awscni_total_ip_addresses":                         {dto.MetricType_GAUGE, nil},
	"awscni_assigned_ip_addresses":                      {dto.MetricType_GAUGE, nil},
	"awscni_force_removed_enis":                         {dto.MetricType_COUNTER, nil},
	"awscni_force_removed_ips":                          {dto.MetricType_COUNTER, nil},
	"awscni_total_ipv4_prefixes":                        {dto.MetricType_GAUGE, nil},
	"awscni_assigned_ip_per_cidr":                       {dto.MetricType_GAUGE, []string{"cidr"}},
	"awscni_no_available_ip_addresses":                  {dto.MetricType_COUNTER, nil},
	"awscni_assigned_ip_per_eni":                        {dto.MetricType_GAUGE, []string{"eni"}},
	"awscni_ipamd_startup_duration_seconds":             {dto.MetricType_HISTOGRAM, []string{"failure_reason", "success", "with_api_server"}},
	"awscni_ipamd_node_initialization_duration_seconds": {dto.MetricType_HISTOGRAM, []string{"success"}},
	"awscni_connmark_backend":                           {dto.MetricType_GAUGE, []string{"backend"}},
	"awscni_connmark_reconcile_total":                   {dto.MetricType_COUNTER, []string{"result"}},
	"awscni_build_info":                                 {dto.MetricType_GAUGE, []string{"goversion", "version"}},
}

// /metrics, read with Prometheus's own text parser, serves upstream's
// series with upstream's types and labels, and nothing else; a labelled
// series upstream has not touched yet is absent there too, so those are
// checked on the registry's descriptions.
func TestMetricsAreUpstreams(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "c5.large", Modify: func(o *Options) { o.MetricsAddr = "127.0.0.1:0" }})
	n.start()
	_, r := n.add()
	require.True(t, r.Success)
	l.advance(3*time.Minute, 5*time.Second)

	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(get(t, "http://"+n.d.MetricsAddr()+"/metrics")))
	require.NoError(t, err)
	for name, f := range fams {
		want, ok := upstreamSeries[name]
		if !assert.True(t, ok, "%s is not an upstream series", name) {
			continue
		}
		assert.Equal(t, want.typ, f.GetType(), name)
		for _, m := range f.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName())
			}
			assert.Equal(t, want.labels, labels, name)
		}
	}
	descLabels := regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)
	described := map[string][]string{}
	descs := make(chan *prometheus.Desc, 64)
	for _, c := range n.d.metrics.collectors {
		c.Describe(descs)
	}
	close(descs)
	for d := range descs {
		mm := descLabels.FindStringSubmatch(d.String())
		require.NotNil(t, mm, d.String())
		var labels []string
		if mm[2] != "" {
			labels = strings.Split(mm[2], ",")
		}
		slices.Sort(labels)
		described[mm[1]] = labels
	}
	for name, want := range upstreamSeries {
		got, ok := described[name]
		if assert.True(t, ok, "upstream's %s is not registered", name) {
			assert.Equal(t, want.labels, got, name)
		}
	}

	value := func(name string, labels ...string) float64 { return sampleValue(fams[name], labels...) }
	ip := r.IPAllocationMetadata[0].IPv4Addr
	assert.Equal(t, 1.0, value("awscni_assigned_ip_per_cidr", "cidr", ip+"/32"), "the pod's address (datastore's IpsPerCidr)")
	assert.Equal(t, 1.0, value("awscni_ipamd_startup_duration_seconds", "success", "true", "with_api_server", "true", "failure_reason", ""))
	assert.Equal(t, 1.0, value("awscni_ipamd_node_initialization_duration_seconds", "success", "true"))
	assert.Equal(t, 0.0, value("awscni_ipamd_action_inprogress", "fn", "nodeInit"), "nodeInit ended")
	assert.Equal(t, 0.0, value("awscni_ipamd_action_inprogress", "fn", "nodeIPPoolReconcile"), "the reconcile ran and ended")
	assert.Equal(t, 1.0, value("awscni_ec2api_req_count", "fn", "CreateNetworkInterface"), "one per EC2 request")
	assert.Equal(t, -1.0, value("awscni_ec2api_req_count", "fn", "DescribeInstanceTypes"), "limits come from the built-in table: never called, no series")
	assert.Positive(t, value("awscni_aws_api_latency_ms", "api", "GetMetadata"), "IMDS reads are observed as upstream's instrumentedIMDS does")
	assert.Equal(t, 1.0, value("awscni_build_info", "version", Version))
}

// sampleValue is the value of the first sample of f whose labels include
// the name/value pairs given (a histogram's or summary's sample count); -1
// when there is none.
func sampleValue(f *dto.MetricFamily, labels ...string) float64 {
	for _, m := range f.GetMetric() {
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && slices.ContainsFunc(m.GetLabel(), func(lp *dto.LabelPair) bool {
				return lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
			})
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		case m.Summary != nil:
			return float64(m.GetSummary().GetSampleCount())
		}
	}
	return -1
}
