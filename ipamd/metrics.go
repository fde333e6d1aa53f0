package ipamd

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/enilab/enilab/ipamd/awsapi"
)

// metrics are the upstream awscni_* series, on a registry of their own so
// that several daemons in one process (a lab) do not collide.
type metrics struct {
	reg *prometheus.Registry

	eniAllocated   prometheus.Gauge
	eniMax         prometheus.Gauge
	ipMax          prometheus.Gauge
	totalIPs       prometheus.Gauge
	assignedIPs    prometheus.Gauge
	totalPrefixes  prometheus.Gauge
	addIPReq       prometheus.Counter
	delIPReq       *prometheus.CounterVec
	awsAPILatency  *prometheus.SummaryVec
	awsAPIErr      *prometheus.CounterVec
	ec2Req         *prometheus.CounterVec
	ec2Err         *prometheus.CounterVec
	ipamdErr       *prometheus.CounterVec
	noAvailableIP  prometheus.Counter
	forceRemovedE  prometheus.Counter
	forceRemovedIP prometheus.Counter
	reconcile      *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	g := func(name, help string) prometheus.Gauge {
		x := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		m.reg.MustRegister(x)
		return x
	}
	c := func(name, help string) prometheus.Counter {
		x := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		m.reg.MustRegister(x)
		return x
	}
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		x := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(x)
		return x
	}
	m.eniAllocated = g("awscni_eni_allocated", "The number of ENIs allocated")
	m.eniMax = g("awscni_eni_max", "The maximum number of ENIs that can be attached to the instance, accounting for unmanaged ENIs")
	m.ipMax = g("awscni_ip_max", "The maximum number of IP addresses that can be allocated to the instance")
	m.totalIPs = g("awscni_total_ip_addresses", "The total number of IP addresses")
	m.assignedIPs = g("awscni_assigned_ip_addresses", "The number of IP addresses assigned to pods")
	m.totalPrefixes = g("awscni_total_ipv4_prefixes", "The total number of IPv4 prefixes")
	m.addIPReq = c("awscni_add_ip_req_count", "The number of add IP address requests")
	m.delIPReq = cv("awscni_del_ip_req_count", "The number of delete IP address requests", "reason")
	m.awsAPILatency = prometheus.NewSummaryVec(prometheus.SummaryOpts{
		Name: "awscni_aws_api_latency_ms", Help: "AWS API call latency in ms",
	}, []string{"api", "error", "status"})
	m.reg.MustRegister(m.awsAPILatency)
	m.awsAPIErr = cv("awscni_aws_api_error_count", "The number of times AWS API returns an error", "api", "error")
	m.ec2Req = cv("awscni_ec2api_req_count", "The number of requests made to EC2 APIs by CNI", "fn")
	m.ec2Err = cv("awscni_ec2api_error_count", "The number of failed EC2 APIs requests", "fn")
	m.ipamdErr = cv("awscni_ipamd_error_count", "The number of errors encountered in ipamd", "fn")
	m.noAvailableIP = c("awscni_no_available_ip_addresses", "The number of pod IP assignments that fail due to no available IP addresses")
	m.forceRemovedE = c("awscni_force_removed_enis", "The number of ENIs force removed while they had assigned pods")
	m.forceRemovedIP = c("awscni_force_removed_ips", "The number of IPs force removed while they had assigned pods")
	m.reconcile = cv("awscni_reconcile_count", "The number of times ipamd reconciles on ENIs and IP/Prefix addresses", "fn")
	return m
}

// ObserveEC2 implements awsapi.Observer.
func (m *metrics) ObserveEC2(action string, latency time.Duration, err error) {
	m.ec2Req.WithLabelValues(action).Inc()
	failed := err != nil
	status := "200"
	if failed {
		code := awsapi.Code(err)
		if code == "" {
			code = "transport"
		}
		m.ec2Err.WithLabelValues(action).Inc()
		m.awsAPIErr.WithLabelValues(action, code).Inc()
		status = code
	}
	m.awsAPILatency.WithLabelValues(action, strconv.FormatBool(failed), status).Observe(float64(latency.Milliseconds()))
}

func (m *metrics) ipamdError(fn string) { m.ipamdErr.WithLabelValues(fn).Inc() }
