package fakeec2

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// IMDS returns the IMDSv2 of one instance: PUT /latest/api/token, then GETs
// carrying X-aws-ec2-metadata-token. Attachments and addresses show only
// Config.IMDSLag after they happened, as on a real instance.
func (s *Server) IMDS(instanceID string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveIMDS(instanceID, w, r) })
}

const (
	tokenHeader    = "X-Aws-Ec2-Metadata-Token"
	tokenTTLHeader = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
)

func imdsError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = fmt.Fprintln(w, http.StatusText(status))
}

func (s *Server) serveIMDS(instanceID string, w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			w.Header().Set("Allow", "PUT")
			imdsError(w, http.StatusMethodNotAllowed)
			return
		}
		if r.Header.Get("X-Forwarded-For") != "" {
			imdsError(w, http.StatusForbidden)
			return
		}
		ttl, err := strconv.Atoi(r.Header.Get(tokenTTLHeader))
		if err != nil || ttl < 1 || ttl > 21600 {
			imdsError(w, http.StatusBadRequest)
			return
		}
		tok := s.mintToken(instanceID, s.cfg.TokenClock.Now().Add(time.Duration(ttl)*time.Second))
		w.Header().Set(tokenTTLHeader, strconv.Itoa(ttl))
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(tok))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		imdsError(w, http.StatusMethodNotAllowed)
		return
	}
	if !s.tokenValid(instanceID, r.Header.Get(tokenHeader), s.cfg.TokenClock.Now()) {
		imdsError(w, http.StatusUnauthorized)
		return
	}
	now := s.cfg.Clock.Now()
	body, ok := s.imdsLookup(instanceID, path, now)
	if !ok {
		imdsError(w, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	if strings.HasPrefix(body, "{") {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write([]byte(body))
}

// imdsLookup answers one metadata path from the lagged state.
func (s *Server) imdsLookup(instanceID, path string, now time.Time) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.st.instances[instanceID]
	if !ok || in.state != "running" {
		return "", false
	}
	if body, ok, known := s.imdsDynamic(in, path); known {
		return body, ok
	}
	rest, ok := strings.CutPrefix(path, "/latest/meta-data")
	if !ok {
		return "", false
	}
	return s.imdsMetaData(in, imdsAttachedENIs(in, now, s.cfg.IMDSLag), strings.TrimPrefix(rest, "/"))
}

// imdsDynamic answers the paths outside /latest/meta-data; known is false
// for any other path.
func (s *Server) imdsDynamic(in *instance, path string) (body string, ok, known bool) {
	switch path {
	case "/latest/dynamic/instance-identity/document":
		doc := map[string]any{
			"accountId": s.cfg.AccountID, "architecture": in.lim.Architecture, "availabilityZone": in.az,
			"imageId": in.imageID, "instanceId": in.id, "instanceType": in.typ,
			"pendingTime": ts(in.launched), "privateIp": in.primaryIP.String(), "region": s.cfg.Region,
			"version": "2017-09-30",
		}
		return imdsJSON(doc), true, true
	case "/latest/dynamic/instance-identity/", "/latest/dynamic/instance-identity":
		return "document", true, true
	case "/latest/dynamic/", "/latest/dynamic":
		return "instance-identity/", true, true
	case "/latest/", "/latest":
		return "dynamic\nmeta-data", true, true
	case "/", "":
		return "latest", true, true
	}
	return "", false, false
}

// imdsENIs is what IMDS shows of an instance's ENIs: those whose attachment
// is visible by now, keyed by MAC, with their lagged addresses.
type imdsENIs struct {
	byMAC   map[string]*eni
	views   map[string]eniView
	primary *eni
}

func imdsAttachedENIs(in *instance, now time.Time, lag time.Duration) imdsENIs {
	att := imdsENIs{byMAC: map[string]*eni{}, views: map[string]eniView{}}
	for _, n := range in.enis {
		v := lagged(n, now, lag)
		if !v.attached {
			continue
		}
		att.byMAC[n.mac] = n
		att.views[n.mac] = v
		if n.isPrimary() {
			att.primary = n
		}
	}
	return att
}

// imdsMetaData answers a path below /latest/meta-data/.
func (s *Server) imdsMetaData(in *instance, att imdsENIs, rest string) (string, bool) {
	switch rest {
	case "":
		keys := "ami-id\nhostname\niam/\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nmac\nnetwork/\nplacement/"
		if att.primary != nil && len(att.views[att.primary.mac].ipv6) > 0 {
			keys = strings.Replace(keys, "instance-type\n", "instance-type\nipv6\n", 1)
		}
		return keys, true
	case "ipv6":
		// The primary ENI's first IPv6 address, as EC2's meta-data/ipv6.
		if att.primary == nil || len(att.views[att.primary.mac].ipv6) == 0 {
			return "", false
		}
		return att.views[att.primary.mac].ipv6[0].a.String(), true
	case "ami-id":
		return in.imageID, true
	case "instance-id":
		return in.id, true
	case "instance-type":
		return in.typ, true
	case "local-ipv4":
		return in.primaryIP.String(), true
	case "hostname", "local-hostname":
		return s.st.dnsName(in.primaryIP), true
	case "mac":
		if att.primary == nil {
			return "", false
		}
		return att.primary.mac, true
	case "placement", "placement/":
		return "availability-zone\navailability-zone-id\nregion", true
	case "placement/availability-zone":
		return in.az, true
	case "placement/availability-zone-id":
		return s.st.azID(in.az), true
	case "placement/region":
		return s.cfg.Region, true
	case "network", "network/":
		return "interfaces/", true
	case "network/interfaces", "network/interfaces/":
		return "macs/", true
	case "network/interfaces/macs", "network/interfaces/macs/":
		return imdsMACList(att), true
	}
	if key, ok := strings.CutPrefix(rest, "iam"); ok {
		return s.imdsIAM(in, key, s.cfg.TokenClock.Now())
	}
	rest, ok := strings.CutPrefix(rest, "network/interfaces/macs/")
	if !ok {
		return "", false
	}
	m, key, _ := strings.Cut(rest, "/")
	n, ok := att.byMAC[m]
	if !ok {
		return "", false
	}
	return s.imdsInterface(n, att.views[m], key)
}

// imdsMACList lists the attached ENIs' MACs in card, then device order.
func imdsMACList(att imdsENIs) string {
	list := slices.Collect(maps.Values(att.byMAC))
	slices.SortFunc(list, func(a, b *eni) int {
		if c := cmp.Compare(a.card, b.card); c != 0 {
			return c
		}
		return cmp.Compare(a.device, b.device)
	})
	var b strings.Builder
	for i, n := range list {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(n.mac + "/")
	}
	return b.String()
}

// imdsInterface answers key below network/interfaces/macs/<mac>/ for n,
// whose addresses as IMDS sees them are v's.
func (s *Server) imdsInterface(n *eni, v eniView, key string) (string, bool) {
	switch key {
	case "":
		// Only keys imdsInterface answers: a client walking the listing
		// must not meet a 404 for a key it was just offered.
		keys := "device-number\ninterface-id\nlocal-hostname\nlocal-ipv4s\nmac\nnetwork-card\nowner-id\nsecurity-group-ids\nsecurity-groups\nsubnet-id\nsubnet-ipv4-cidr-block\nvpc-id\nvpc-ipv4-cidr-block\nvpc-ipv4-cidr-blocks"
		if len(v.pfx) > 0 {
			keys = strings.Replace(keys, "interface-id\n", "interface-id\nipv4-prefix\n", 1)
		}
		list := append(strings.Split(keys, "\n"), imdsIPv6Keys(n, v)...)
		slices.Sort(list)
		return strings.Join(list, "\n"), true
	case "device-number":
		return strconv.Itoa(n.device), true
	case "network-card":
		return strconv.Itoa(n.card), true
	case "interface-id":
		return n.id, true
	case "mac":
		return n.mac, true
	case "owner-id":
		return s.cfg.AccountID, true
	case "subnet-id":
		return n.subnet.id, true
	case "vpc-id":
		return n.subnet.vpcID, true
	case "subnet-ipv4-cidr-block":
		return n.subnet.cidr.String(), true
	case "local-hostname":
		if len(n.ips) == 0 {
			return "", false
		}
		return s.st.dnsName(n.ips[0].a), true
	case "vpc-ipv4-cidr-block":
		return s.st.vpcs[n.subnet.vpcID].cidrs[0].p.String(), true
	}
	return s.imdsInterfaceList(n, v, key)
}

// imdsInterfaceList answers the keys of an interface whose value is a
// list, one item a line; an empty list is a 404, as on EC2.
func (s *Server) imdsInterfaceList(n *eni, v eniView, key string) (string, bool) {
	var l []string
	switch key {
	case "vpc-ipv4-cidr-blocks":
		for _, c := range s.st.vpcs[n.subnet.vpcID].cidrs {
			l = append(l, c.p.String())
		}
		return strings.Join(l, "\n"), true
	case "local-ipv4s":
		for _, a := range v.ips {
			l = append(l, a.a.String())
		}
	case "ipv4-prefix":
		for _, p := range v.pfx {
			l = append(l, p.p.String())
		}
	case "ipv6s":
		l = v.ipv6List(false)
	case "ipv6-prefix":
		l = v.ipv6List(true)
	case "subnet-ipv6-cidr-blocks":
		if n.subnet.v6 != nil {
			l = append(l, n.subnet.v6.assoc.p.String())
		}
	case "vpc-ipv6-cidr-blocks":
		for _, c := range s.st.vpcs[n.subnet.vpcID].ipv6 {
			l = append(l, c.p.String())
		}
	case "security-group-ids":
		l = n.sgs
	case "security-groups":
		for _, id := range n.sgs {
			if g, ok := s.st.sgs[id]; ok {
				l = append(l, g.name)
			}
		}
	default:
		return "", false
	}
	if len(l) == 0 {
		return "", false
	}
	return strings.Join(l, "\n"), true
}

// imdsIPv6Keys are the IPv6 keys an interface's listing offers: only those
// with a value, as EC2 lists them.
func imdsIPv6Keys(n *eni, v eniView) []string {
	var keys []string
	if len(v.pfx6) > 0 {
		keys = append(keys, "ipv6-prefix")
	}
	if len(v.ipv6) > 0 {
		keys = append(keys, "ipv6s")
	}
	if n.subnet.v6 != nil {
		keys = append(keys, "subnet-ipv6-cidr-blocks", "vpc-ipv6-cidr-blocks")
	}
	return keys
}
