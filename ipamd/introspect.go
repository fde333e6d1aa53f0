package ipamd

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/enilab/enilab/ipamd/config"
)

// The introspection API in upstream's shapes (pkg/ipamd/introspect.go): the
// JSON of its datastore types, field for field, so that tools written for
// the VPC CNI's 61679 port read enilab's.

// eniInfosJSON is upstream's datastore.ENIInfos.
type eniInfosJSON struct {
	TotalIPs    int
	AssignedIPs int
	ENIs        map[string]eniJSON
}

// eniJSON is upstream's datastore.ENI.
type eniJSON struct {
	ID                  string
	IsPrimary           bool
	IsTrunk             bool
	IsEFA               bool
	DeviceNumber        int
	AvailableIPv4Cidrs  map[string]cidrJSON
	IPv6Cidrs           map[string]cidrJSON
	IsExcludedForPodIPs bool
	RouteTableID        int
	SubnetID            string
}

// cidrJSON is upstream's datastore.CidrInfo (AddressFamily is "" there too:
// GetENIInfos does not copy it).
type cidrJSON struct {
	Cidr          net.IPNet
	IPAddresses   map[string]addressJSON
	IsPrefix      bool
	AddressFamily string
}

// addressJSON is upstream's datastore.AddressInfo.
type addressJSON struct {
	Address        string
	IPAMKey        ipamKeyJSON
	IPAMMetadata   ipamMetadataJSON
	AssignedTime   time.Time
	UnassignedTime time.Time
}

type ipamKeyJSON struct {
	NetworkName string `json:"networkName"`
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifName"`
}

type ipamMetadataJSON struct {
	K8SPodNamespace string `json:"k8sPodNamespace,omitempty"`
	K8SPodName      string `json:"k8sPodName,omitempty"`
	InterfacesCount int    `json:"interfacesCount,omitempty"`
}

const mainRouteTable = 254

// introspectionPaths are upstream's introspection commands (the "/" listing).
var introspectionPaths = []string{"/v1/eni-configs", "/v1/enis", "/v1/ipamd-env-settings", "/v1/networkutils-env-settings"}

func (d *Daemon) introspectionHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/enis", func(w http.ResponseWriter, r *http.Request) {
		d.writeJSON(w, map[int]eniInfosJSON{d.limits.DefaultNetworkCard: d.eniInfos()})
	})
	mux.HandleFunc("/v1/eni-configs", func(w http.ResponseWriter, r *http.Request) { d.writeJSON(w, d.nodeENIConfigName()) })
	mux.HandleFunc("/v1/ipamd-env-settings", func(w http.ResponseWriter, r *http.Request) { d.writeJSON(w, d.ipamdEnvForDebug()) })
	mux.HandleFunc("/v1/networkutils-env-settings", func(w http.ResponseWriter, r *http.Request) { d.writeJSON(w, d.networkEnvForDebug()) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		d.writeJSON(w, struct{ AvailableCommands []string }{introspectionPaths})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.log.Info("Handling http request", "method", r.Method, "from", r.RemoteAddr, "uri", r.RequestURI)
		mux.ServeHTTP(w, r)
	})
}

// writeJSON answers compact JSON, as upstream's json.Marshal does.
func (d *Daemon) writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		d.log.Error("Failed to marshal introspection data", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	if _, err := w.Write(b); err != nil {
		d.log.Error("Write failed", "err", err)
	}
}

// eniInfos is the datastore as upstream's eniV1RequestHandler shows it:
// container ids and interface names blanked.
func (d *Daemon) eniInfos() eniInfosJSON {
	if d.v6 != nil {
		return d.eniInfosV6()
	}
	now := d.clock.Now()
	st := d.store.Stats(now)
	byIP := map[netip.Addr]addressJSON{}
	for _, a := range d.store.Assignments() {
		byIP[a.IP] = addressJSON{
			Address: a.IP.String(), IPAMKey: ipamKeyJSON{NetworkName: a.Key.NetworkName},
			IPAMMetadata: ipamMetadataJSON{K8SPodNamespace: a.Pod.Namespace, K8SPodName: a.Pod.Name},
			AssignedTime: a.AssignedAt,
		}
	}
	out := eniInfosJSON{TotalIPs: st.TotalIPs, AssignedIPs: st.AssignedIPs, ENIs: map[string]eniJSON{}}
	for _, e := range d.store.ENIs(now) {
		table := e.DeviceNumber + 1
		if e.Primary {
			table = mainRouteTable
		}
		j := eniJSON{ID: e.ID, IsPrimary: e.Primary, DeviceNumber: e.DeviceNumber, RouteTableID: table, SubnetID: e.SubnetID,
			AvailableIPv4Cidrs: map[string]cidrJSON{}, IPv6Cidrs: map[string]cidrJSON{}}
		for _, c := range e.CIDRs {
			cj := cidrJSON{IsPrefix: c.Prefix.Bits() < 32, IPAddresses: map[string]addressJSON{},
				Cidr: net.IPNet{IP: net.IP(c.Prefix.Addr().AsSlice()), Mask: net.CIDRMask(c.Prefix.Bits(), 32)}}
			for ip := c.Prefix.Addr(); c.Assigned > 0 && c.Prefix.Contains(ip); ip = ip.Next() {
				if a, ok := byIP[ip]; ok {
					cj.IPAddresses[ip.String()] = a
				}
			}
			j.AvailableIPv4Cidrs[c.Prefix.String()] = cj
		}
		out.ENIs[e.ID] = j
	}
	return out
}

// nodeENIConfigName is upstream's GetNodeSpecificENIConfigName: the
// vpc.amazonaws.com/externalEniConfig label, else the ENI_CONFIG_LABEL_DEF
// label, else "default".
func (d *Daemon) nodeENIConfigName() string {
	if d.eniCfgName != "" {
		return d.eniCfgName
	}
	for _, label := range []string{"vpc.amazonaws.com/externalEniConfig", d.cfg.ENIConfigLabelDef} {
		if v, ok := d.opts.NodeLabels[label]; ok {
			return v
		}
	}
	return "default"
}

// ipamdEnvForDebug is upstream's ipamd GetConfigForDebug.
func (d *Daemon) ipamdEnvForDebug() map[string]any {
	return map[string]any{
		"WARM_IP_TARGET":                     d.cfg.WarmIPTarget,
		"WARM_ENI_TARGET":                    d.cfg.WarmENITarget,
		"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": d.cfg.CustomNetworking,
		"AWS_MANAGE_ENIS_NON_SCHEDULABLE":    false,
		"ENABLE_SUBNET_DISCOVERY":            d.cfg.EnableSubnetDiscovery,
	}
}

// networkEnvForDebug is upstream's networkutils GetConfigForDebug: the
// mark as a number, the CIDR lists as parseCIDRString returns them (null
// when empty), the SNAT type as its number.
func (d *Daemon) networkEnvForDebug() map[string]any {
	exclude, _ := config.ParseCIDRs(config.EnvExcludeSNATCIDRs, d.cfg.ExcludeSNATCIDRs)
	external, _ := config.ParseCIDRs(config.EnvExternalServiceCIDRs, d.cfg.ExternalServiceCIDRs)
	return map[string]any{
		config.EnvConnmark:             d.cfg.Connmark,
		config.EnvExcludeSNATCIDRs:     exclude,
		config.EnvExternalSNAT:         d.cfg.ExternalSNAT,
		config.EnvExternalServiceCIDRs: external,
		config.EnvENIMTU:               d.cfg.ENIMTU,
		config.EnvVethPrefix:           d.cfg.VethPrefix,
		config.EnvNodePortSupport:      !d.cfg.NodePortSupportDisabled,
		config.EnvRandomizeSNAT:        config.SNATType(d.cfg.RandomizeSNAT),
	}
}

func (d *Daemon) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}
