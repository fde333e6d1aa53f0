package ipamd

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// eniJSON is one ENI in /v1/enis, close to upstream's ENIInfos layout.
type eniJSON struct {
	ID                 string              `json:"ID"`
	IsPrimary          bool                `json:"IsPrimary"`
	DeviceNumber       int                 `json:"DeviceNumber"`
	MAC                string              `json:"MAC"`
	SubnetID           string              `json:"SubnetID"`
	SubnetCIDR         string              `json:"SubnetCIDR"`
	PrimaryIP          string              `json:"PrimaryIP"`
	Usable             bool                `json:"Usable"`
	AvailableIPv4Cidrs map[string]cidrJSON `json:"AvailableIPv4Cidrs"`
}

type cidrJSON struct {
	IsPrefix    bool              `json:"IsPrefix"`
	Assigned    int               `json:"Assigned"`
	Cooling     int               `json:"Cooling"`
	IPAddresses map[string]ipJSON `json:"IPAddresses,omitempty"`
}

type ipJSON struct {
	Address      string `json:"Address"`
	NetworkName  string `json:"NetworkName"`
	ContainerID  string `json:"ContainerID"`
	IfName       string `json:"IfName"`
	PodName      string `json:"K8SPodName,omitempty"`
	PodNamespace string `json:"K8SPodNamespace,omitempty"`
	AssignedTime string `json:"AssignedTime"`
}

func (d *Daemon) introspectionHandler() http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(v)
	}
	mux.HandleFunc("GET /v1/enis", func(w http.ResponseWriter, r *http.Request) {
		now := d.clock.Now()
		st := d.store.Stats(now)
		byIP := map[string]ipJSON{}
		for _, a := range d.store.Assignments() {
			byIP[a.IP.String()] = ipJSON{Address: a.IP.String(), NetworkName: a.Key.NetworkName, ContainerID: a.Key.ContainerID,
				IfName: a.Key.IfName, PodName: a.Pod.Name, PodNamespace: a.Pod.Namespace, AssignedTime: a.AssignedAt.UTC().Format("2006-01-02T15:04:05Z")}
		}
		enis := map[string]eniJSON{}
		for _, e := range d.store.ENIs(now) {
			j := eniJSON{ID: e.ID, IsPrimary: e.Primary, DeviceNumber: e.DeviceNumber, MAC: e.MAC, SubnetID: e.SubnetID,
				SubnetCIDR: e.SubnetCIDR.String(), PrimaryIP: e.PrimaryIP.String(), Usable: e.Usable, AvailableIPv4Cidrs: map[string]cidrJSON{}}
			for _, c := range e.CIDRs {
				cj := cidrJSON{IsPrefix: c.Prefix.Bits() < 32, Assigned: c.Assigned, Cooling: c.Cooling}
				if c.Assigned > 0 {
					cj.IPAddresses = map[string]ipJSON{}
					ip := c.Prefix.Addr()
					for i := 0; i < 1<<(32-c.Prefix.Bits()); i++ {
						if a, ok := byIP[ip.String()]; ok {
							cj.IPAddresses[ip.String()] = a
						}
						ip = ip.Next()
					}
				}
				j.AvailableIPv4Cidrs[c.Prefix.String()] = cj
			}
			enis[e.ID] = j
		}
		writeJSON(w, map[string]any{"TotalIPs": st.TotalIPs, "AssignedIPs": st.AssignedIPs, "ENIs": enis})
	})
	mux.HandleFunc("GET /v1/ipamd-env-settings", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, d.cfg.IPAMDEnv()) })
	mux.HandleFunc("GET /v1/networkutils-env-settings", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, d.cfg.NetworkUtilsEnv()) })
	mux.HandleFunc("GET /v1/eni-configs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"customNetworking": d.cfg.CustomNetworking, "labelDef": d.cfg.ENIConfigLabelDef,
			"selected": d.eniCfgName, "eniConfigs": d.opts.ENIConfigs,
		})
	})
	return mux
}

func (d *Daemon) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}
