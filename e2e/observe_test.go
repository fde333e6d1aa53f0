package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"

	. "github.com/onsi/gomega"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/node"
)

// pool is what an operator reads off a node: the introspection endpoint's
// /v1/enis and the Prometheus gauges.
type pool struct {
	ENIs, Total, Assigned int
}

func (p pool) Warm() int { return p.Total - p.Assigned }

func (p pool) String() string {
	return fmt.Sprintf("enis=%d total=%d assigned=%d warm=%d", p.ENIs, p.Total, p.Assigned, p.Warm())
}

// get fetches url from inside n's namespace, as curl on the node does:
// ipamd serves introspection on 127.0.0.1:61679 and metrics on :61678
// there, as on EKS.
func get(n *node.Node, url string) ([]byte, error) {
	if n.IPAMD() == nil {
		return nil, fmt.Errorf("ipamd of %s is restarting", n.Name())
	}
	resp, err := n.HTTPClient().Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return b, nil
}

// introspected reads GET /v1/enis (upstream's ENIInfos by network card:
// TotalIPs, AssignedIPs, ENIs by id) for network card 0.
func introspected(n *node.Node) (pool, error) {
	b, err := get(n, "http://127.0.0.1:61679/v1/enis")
	if err != nil {
		return pool{}, err
	}
	var cards map[string]struct {
		TotalIPs    int
		AssignedIPs int
		ENIs        map[string]json.RawMessage
	}
	if err := json.Unmarshal(b, &cards); err != nil {
		return pool{}, fmt.Errorf("decode /v1/enis: %w: %s", err, b)
	}
	v := cards["0"]
	return pool{ENIs: len(v.ENIs), Total: v.TotalIPs, Assigned: v.AssignedIPs}, nil
}

// metrics reads GET /metrics with Prometheus's own text parser: each
// unlabelled sample by name, and every labelled series summed under
// "name{}".
func metrics(n *node.Node) (map[string]float64, error) {
	b, err := get(n, "http://127.0.0.1:61678/metrics")
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	out := map[string]float64{}
	for name, fam := range families {
		for _, m := range fam.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
			if len(m.GetLabel()) > 0 {
				out[name+"{}"] += v
				continue
			}
			out[name] = v
		}
	}
	return out, nil
}

func metricPool(n *node.Node) (pool, error) {
	m, err := metrics(n)
	if err != nil {
		return pool{}, err
	}
	return pool{ENIs: int(m["awscni_eni_allocated"]), Total: int(m["awscni_total_ip_addresses"]), Assigned: int(m["awscni_assigned_ip_addresses"])}, nil
}

// observed is the pool as both endpoints report it; it is an error when
// they disagree, so Eventually waits for them to settle together.
func observed(n *node.Node) (pool, error) {
	a, err := introspected(n)
	if err != nil {
		return pool{}, err
	}
	b, err := metricPool(n)
	if err != nil {
		return pool{}, err
	}
	if a != b {
		return pool{}, fmt.Errorf("introspection says %v, metrics say %v", a, b)
	}
	return a, nil
}

// eniOf returns the ENI (from EC2's truth) that holds a pod's address.
func eniOf(lab *node.Lab, n *node.Node, ip netip.Addr) (fakeec2.ENI, bool) {
	inst, ok := lab.EC2().Instance(n.InstanceID())
	if !ok {
		return fakeec2.ENI{}, false
	}
	for _, e := range inst.ENIs {
		for _, a := range e.SecondaryIPs {
			if a == ip {
				return e, true
			}
		}
		for _, p := range e.Prefixes {
			if p.Contains(ip) {
				return e, true
			}
		}
	}
	return fakeec2.ENI{}, false
}

// podsOnSecondaryENIs returns ready pods whose address sits on an ENI with
// device index > 0.
func podsOnSecondaryENIs(lab *node.Lab, n *node.Node) []node.PodStatus {
	var out []node.PodStatus
	for _, p := range n.Pods() {
		if p.Phase != node.PhaseReady {
			continue
		}
		if e, ok := eniOf(lab, n, p.IP); ok && e.DeviceIndex > 0 {
			out = append(out, p)
		}
	}
	return out
}

func allReadyIPs(nodes ...*node.Node) map[netip.Addr][]string {
	out := map[netip.Addr][]string{}
	for _, n := range nodes {
		for _, p := range n.Pods() {
			if p.Phase == node.PhaseReady {
				out[p.IP] = append(out[p.IP], p.Name)
			}
		}
	}
	return out
}

func expectNoDuplicateIPs(nodes ...*node.Node) {
	for ip, pods := range allReadyIPs(nodes...) {
		ExpectWithOffset(1, pods).To(HaveLen(1), "address %s given to more than one pod", ip)
	}
}
