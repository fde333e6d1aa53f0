package ipamd

import (
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/enilab/enilab/ipamd/awsapi"
	"github.com/enilab/enilab/ipamd/datastore"
)

// Version is the VPC CNI version enilab's ipamd reproduces, the version label
// of awscni_build_info.
const Version = "v1.23.1"

// metrics are the awscni_* series upstream registers (utils/prometheusmetrics
// PrometheusRegister and pkg/version RegisterMetric), with upstream's names,
// help, types and labels, on a registry of their own so that several daemons
// in one process (a lab) do not collide.
type metrics struct {
	reg        *prometheus.Registry
	collectors []prometheus.Collector // in upstream's registration order

	ipamdErr          *prometheus.CounterVec
	actionInProgress  *prometheus.GaugeVec
	eniMax            prometheus.Gauge
	ipMax             prometheus.Gauge
	reconcile         *prometheus.CounterVec
	addIPReq          prometheus.Counter
	delIPReq          *prometheus.CounterVec
	podENIErr         *prometheus.CounterVec
	awsAPILatency     *prometheus.SummaryVec
	awsAPIErr         *prometheus.CounterVec
	awsUtilsErr       *prometheus.CounterVec
	ec2Req            *prometheus.CounterVec
	ec2Err            *prometheus.CounterVec
	eniAllocated      prometheus.Gauge
	totalIPs          prometheus.Gauge
	assignedIPs       prometheus.Gauge
	forceRemovedE     prometheus.Counter
	forceRemovedIP    prometheus.Counter
	totalPrefixes     prometheus.Gauge
	ipsPerCIDR        *prometheus.GaugeVec
	noAvailableIP     prometheus.Counter
	ipsPerENI         *prometheus.GaugeVec
	startupDuration   *prometheus.HistogramVec
	nodeInitDuration  *prometheus.HistogramVec
	connmarkBackend   *prometheus.GaugeVec
	connmarkReconcile *prometheus.CounterVec
	buildInfo         *prometheus.GaugeVec

	perMu    sync.Mutex      // guards the two sets below
	cidrSeen map[string]bool // CIDRs with an awscni_assigned_ip_per_cidr series
	eniSeen  map[string]bool // ENIs with an awscni_assigned_ip_per_eni series
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.ipamdErr = register(m, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "awscni_ipamd_error_count", Help: "The number of errors encountered in ipamd"}, []string{"fn"}))
	m.actionInProgress = register(m, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "awscni_ipamd_action_inprogress", Help: "The number of ipamd actions in progress"}, []string{"fn"}))
	m.eniMax = register(m, prometheus.NewGauge(prometheus.GaugeOpts{Name: "awscni_eni_max", Help: "The maximum number of ENIs that can be attached to the instance, accounting for unmanaged ENIs"}))
	m.ipMax = register(m, prometheus.NewGauge(prometheus.GaugeOpts{Name: "awscni_ip_max", Help: "The maximum number of IP addresses that can be allocated to the instance"}))
	m.reconcile = register(m, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "awscni_reconcile_count", Help: "The number of times ipamd reconciles on ENIs and IP/Prefix addresses"}, []string{"fn"}))
	m.addIPReq = register(m, prometheus.NewCounter(prometheus.CounterOpts{Name: "awscni_add_ip_req_count", Help: "The number of add IP address requests"}))
	m.delIPReq = register(m, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "awscni_del_ip_req_count", Help: "The number of delete IP address requests"}, []string{"reason"}))
	m.podENIErr = register(m, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "awscni_pod_eni_error_count", Help: "The number of errors encountered for pod ENIs"}, []string{"fn"}))
	m.awsAPILatency = register(m, prometheus.NewSummaryVec(prometheus.SummaryOpts{Name: "awscni_aws_api_latency_ms", Help: "AWS API call latency in ms"}, []string{"api", "error", "status"}))
	m.awsAPIErr = register(m, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "awscni_aws_api_error_count", Help: "The number of times AWS API returns an error"}, []string{"api", "error"}))
	m.awsUtilsErr = register(m, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "awscni_aws_utils_error_count", Help: "The number of errors not handled in awsutils library"}, []string{"fn", "error"}))
	m.ec2Req = register(m, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "awscni_ec2api_req_count", Help: "The number of requests made to EC2 APIs by CNI"}, []string{"fn"}))
	m.ec2Err = register(m, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "awscni_ec2api_error_count", Help: "The number of failed EC2 APIs requests"}, []string{"fn"}))
	m.eniAllocated = register(m, prometheus.NewGauge(prometheus.GaugeOpts{Name: "awscni_eni_allocated", Help: "The number of ENIs allocated"}))
	m.totalIPs = register(m, prometheus.NewGauge(prometheus.GaugeOpts{Name: "awscni_total_ip_addresses", Help: "The total number of IP addresses"}))
	m.assignedIPs = register(m, prometheus.NewGauge(prometheus.GaugeOpts{Name: "awscni_assigned_ip_addresses", Help: "The number of IP addresses assigned to pods"}))
	m.forceRemovedE = register(m, prometheus.NewCounter(prometheus.CounterOpts{Name: "awscni_force_removed_enis", Help: "The number of ENIs force removed while they had assigned pods"}))
	m.forceRemovedIP = register(m, prometheus.NewCounter(prometheus.CounterOpts{Name: "awscni_force_removed_ips", Help: "The number of IPs force removed while they had assigned pods"}))
	m.totalPrefixes = register(m, prometheus.NewGauge(prometheus.GaugeOpts{Name: "awscni_total_ipv4_prefixes", Help: "The total number of IPv4 prefixes"}))
	m.ipsPerCIDR = register(m, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "awscni_assigned_ip_per_cidr", Help: "The total number of IP addresses assigned per cidr"}, []string{"cidr"}))
	m.noAvailableIP = register(m, prometheus.NewCounter(prometheus.CounterOpts{Name: "awscni_no_available_ip_addresses", Help: "The number of pod IP assignments that fail due to no available IP addresses"}))
	m.ipsPerENI = register(m, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "awscni_assigned_ip_per_eni", Help: "The number of allocated ips partitioned by eni"}, []string{"eni"}))
	m.startupDuration = register(m, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "awscni_ipamd_startup_duration_seconds", Help: "The duration of IPAMD startup from process start to ready to serve CNI requests"}, []string{"success", "with_api_server", "failure_reason"}))
	m.nodeInitDuration = register(m, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "awscni_ipamd_node_initialization_duration_seconds", Help: "The duration of node initialization during IPAMD startup"}, []string{"success"}))
	m.connmarkBackend = register(m, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "awscni_connmark_backend", Help: "The connmark backend in use; the active backend's series is set to 1"}, []string{"backend"}))
	m.connmarkReconcile = register(m, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "awscni_connmark_reconcile_total", Help: "The number of connmark Setup/Cleanup reconciliations by result"}, []string{"result"}))
	m.connmarkReconcile.WithLabelValues("success") // upstream's PrometheusRegister creates both
	m.connmarkReconcile.WithLabelValues("error")
	m.buildInfo = register(m, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "awscni_build_info", Help: "A metric with a constant '1' value labeled by version, revision, and goversion from which amazon-vpc-cni-k8s was built."}, []string{"version", "goversion"}))
	m.buildInfo.WithLabelValues(Version, runtime.Version()).Set(1)
	return m
}

func register[C prometheus.Collector](m *metrics, c C) C {
	m.reg.MustRegister(c)
	m.collectors = append(m.collectors, c)
	return c
}

// ObserveEC2 implements awsapi.Observer, once per EC2 request as upstream's
// awsutils counts them: awscni_ec2api_req_count and the latency summary,
// and on failure awscni_ec2api_error_count and awscni_aws_api_error_count
// by error code.
func (m *metrics) ObserveEC2(action string, latency time.Duration, err error) {
	m.ec2Req.WithLabelValues(action).Inc()
	if err != nil {
		m.ec2Err.WithLabelValues(action).Inc()
		if code := awsapi.Code(err); code != "" {
			m.awsAPIErr.WithLabelValues(action, code).Inc()
		}
	}
	m.observeLatency(action, latency, err)
}

// ObserveIMDS implements awsapi.IMDSObserver: upstream's instrumentedIMDS
// observes each GetMetadata in the latency summary only.
func (m *metrics) ObserveIMDS(latency time.Duration, err error) {
	m.observeLatency("GetMetadata", latency, err)
}

// observeLatency labels a call as upstream's awsReqStatus does: "200", the
// error code, or "" when the error has none.
func (m *metrics) observeLatency(api string, latency time.Duration, err error) {
	status := "200"
	if err != nil {
		status = awsapi.Code(err)
	}
	m.awsAPILatency.WithLabelValues(api, strconv.FormatBool(err != nil), status).Observe(float64(latency.Milliseconds()))
}

func (m *metrics) ipamdError(fn string) { m.ipamdErr.WithLabelValues(fn).Inc() }

// inProgress counts an action as running (awscni_ipamd_action_inprogress)
// and returns the function that ends it.
func (m *metrics) inProgress(fn string) func() {
	g := m.actionInProgress.WithLabelValues(fn)
	g.Inc()
	return g.Dec
}

// startedUp records a successful start-up as upstream's main does: node
// initialisation and the whole start-up, with_api_server "true" (the lab's
// node options stand in for the API server upstream reads).
func (m *metrics) startedUp(startup, nodeInit time.Duration) {
	m.nodeInitDuration.WithLabelValues("true").Observe(nodeInit.Seconds())
	m.startupDuration.WithLabelValues("true", "true", "").Observe(startup.Seconds())
}

// setAssignedPerCIDR sets awscni_assigned_ip_per_cidr and
// awscni_assigned_ip_per_eni from a datastore snapshot, as upstream's
// datastore keeps them: every ENI has a series (dropped with the ENI); a CIDR
// gets one with its first assignment and keeps it, at 0 once empty or gone.
func (m *metrics) setAssignedPerCIDR(enis []datastore.ENIInfo) {
	m.perMu.Lock()
	defer m.perMu.Unlock()
	if m.cidrSeen == nil {
		m.cidrSeen, m.eniSeen = map[string]bool{}, map[string]bool{}
	}
	cidrs, ids := map[string]int{}, map[string]bool{}
	for _, e := range enis {
		ids[e.ID] = true
		m.eniSeen[e.ID] = true
		m.ipsPerENI.WithLabelValues(e.ID).Set(float64(e.Assigned))
		for _, c := range e.CIDRs {
			if c.Assigned > 0 || m.cidrSeen[c.Prefix.String()] {
				cidrs[c.Prefix.String()] = c.Assigned
			}
		}
	}
	for id := range m.eniSeen {
		if !ids[id] {
			m.ipsPerENI.DeleteLabelValues(id)
			delete(m.eniSeen, id)
		}
	}
	for c := range m.cidrSeen {
		if _, ok := cidrs[c]; !ok {
			cidrs[c] = 0
		}
	}
	for c, n := range cidrs {
		m.cidrSeen[c] = true
		m.ipsPerCIDR.WithLabelValues(c).Set(float64(n))
	}
}
