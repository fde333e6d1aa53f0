package fakeec2

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/enilab/enilab/internal/ec2limits"
)

// The state model. Everything here runs with Server.mu held; functions
// return *Error carrying the EC2 code a real client would see.

type cidrAssoc struct {
	id string
	p  netip.Prefix
}

type vpc struct {
	id        string
	cidrs     []cidrAssoc
	tags      map[string]string
	defaultSG string
}

type reservation struct {
	id, subnetID, typ, desc string
	p                       netip.Prefix
}

type subnet struct {
	id, vpcID, az string
	cidr          netip.Prefix
	base, size    uint32
	seq           uint64
	// used marks assigned IPs and prefixes, the 5 addresses EC2 keeps, and
	// the padding past the end of a small subnet.
	used bitset
	// resvPrefix and resvExplicit mark CIDR reservations by type.
	resvPrefix, resvExplicit bitset
	// free counts offsets neither used nor reserved: what EC2 can hand out
	// on its own (availableIpAddressCount).
	free         int
	reservations []*reservation
	ipOwner      map[uint32]*eni // offset of an IP → ENI holding it
	pfxOwner     map[uint32]*eni // offset of a /28 → ENI holding it
	tags         map[string]string
}

type secGroup struct {
	id, name, desc, vpcID string
	tags                  map[string]string
}

type instance struct {
	id, typ, az, imageID, reservationID string
	lim                                 ec2limits.Type
	subnet                              *subnet
	primaryIP                           netip.Addr
	sgs                                 []string
	enis                                []*eni // attached, any order
	state                               string // running | terminated
	launched                            time.Time
	tags                                map[string]string
	seq                                 uint64
}

type addrEntry struct {
	a  netip.Addr
	at time.Time // when assigned; zero = always visible
}

type prefixEntry struct {
	p  netip.Prefix
	at time.Time
}

type eni struct {
	id, mac, desc, ifType string
	subnet                *subnet
	ips                   []addrEntry // ips[0] is the primary
	pfx                   []prefixEntry
	tags                  map[string]string
	sgs                   []string
	inst                  *instance
	attachID              string
	device, card          int
	dot                   bool
	attachedAt            time.Time // zero = visible at once (primary ENI)
	attachTime            time.Time // reported attachTime
	seq                   uint64
	deleted               bool
}

type state struct {
	region, account string
	ids, addrs      *rand.Rand
	vpcs            map[string]*vpc
	subnets         map[string]*subnet
	sgs             map[string]*secGroup
	instances       map[string]*instance
	enis            map[string]*eni
	attachments     map[string]*eni
	reservations    map[string]*reservation
	macs            map[string]bool // every MAC ever handed out: never reused, so a stale link cannot be mistaken for a new ENI
	// eniList holds ENIs in creation order for stable Describe output and
	// NextToken paging; deleted ENIs are tombstoned and compacted lazily.
	eniList   []*eni
	eniDead   int
	seq       uint64
	instOrder []*instance
}

func newState(region, account string, seed int64) *state {
	return &state{
		region:       region,
		account:      account,
		ids:          rand.New(rand.NewPCG(uint64(seed), 0x656e696c6162)),
		addrs:        rand.New(rand.NewPCG(uint64(seed), 0x61646472)),
		vpcs:         map[string]*vpc{},
		subnets:      map[string]*subnet{},
		sgs:          map[string]*secGroup{},
		instances:    map[string]*instance{},
		enis:         map[string]*eni{},
		attachments:  map[string]*eni{},
		reservations: map[string]*reservation{},
		macs:         map[string]bool{},
	}
}

// Account quotas. EC2's defaults are 5 VPCs per region and 200 subnets per
// VPC; the VPC quota is raised here so one long-lived server can host many
// labs, while still bounding what a hostile client can make us allocate.
const (
	maxVPCs          = 100
	maxSubnetsPerVPC = 200
)

// maxIPv4PerENI bounds addresses on an ENI that no instance holds yet.
var maxIPv4PerENI = func() int {
	m := 0
	for _, n := range ec2limits.Names() {
		t, _ := ec2limits.Lookup(n)
		m = max(m, t.IPv4PerENI)
	}
	return m
}()

const hexDigits = "0123456789abcdef"

func (st *state) newID(prefix string) string {
	for {
		b := make([]byte, 0, len(prefix)+18)
		b = append(b, prefix...)
		b = append(b, '-')
		for range 17 {
			b = append(b, hexDigits[st.ids.IntN(16)])
		}
		id := string(b)
		if !st.idTaken(id) {
			return id
		}
	}
}

func (st *state) idTaken(id string) bool {
	if _, ok := st.vpcs[id]; ok {
		return true
	}
	if _, ok := st.subnets[id]; ok {
		return true
	}
	if _, ok := st.enis[id]; ok {
		return true
	}
	if _, ok := st.instances[id]; ok {
		return true
	}
	if _, ok := st.sgs[id]; ok {
		return true
	}
	if _, ok := st.attachments[id]; ok {
		return true
	}
	_, ok := st.reservations[id]
	return ok
}

func (st *state) newMAC() string {
	for {
		m := fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", st.ids.IntN(256), st.ids.IntN(256),
			st.ids.IntN(256), st.ids.IntN(256), st.ids.IntN(256))
		if !st.macs[m] {
			st.macs[m] = true
			return m
		}
	}
}

func (st *state) nextSeq() uint64 { st.seq++; return st.seq }

// ---- errors ----

func errCode(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

func invalidParam(format string, args ...any) *Error {
	return errCode("InvalidParameterValue", 400, format, args...)
}

func missingParam(name string) *Error {
	return errCode("MissingParameter", 400, "The request must contain the parameter %s", name)
}

func notFound(code, kind, id string) *Error {
	return errCode(code, 400, "The %s ID '%s' does not exist", kind, id)
}

func eniNotFound(id string) *Error {
	return notFound("InvalidNetworkInterfaceID.NotFound", "networkInterface", id)
}
func instanceNotFound(id string) *Error {
	return notFound("InvalidInstanceID.NotFound", "instance", id)
}
func subnetNotFound(id string) *Error { return notFound("InvalidSubnetID.NotFound", "subnet", id) }
func vpcNotFound(id string) *Error    { return notFound("InvalidVpcID.NotFound", "vpc", id) }
func attachmentNotFound(id string) *Error {
	return notFound("InvalidAttachmentID.NotFound", "attachment", id)
}
func groupNotFound(id string) *Error {
	return errCode("InvalidGroup.NotFound", 400, "The security group '%s' does not exist", id)
}

// ---- parsing of values shared by the wire and the Go API ----

func parseCIDR(name, s string) (netip.Prefix, *Error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, invalidParam("Value (%s) for parameter %s is invalid. This is not a valid IPv4 CIDR block.", s, name)
	}
	if p.Masked() != p {
		return netip.Prefix{}, invalidParam("Value (%s) for parameter %s is invalid. The CIDR is not aligned to its prefix length (did you mean %s?).", s, name, p.Masked())
	}
	return p, nil
}

func parseIPv4(name, s string) (netip.Addr, *Error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, invalidParam("Value (%s) for parameter %s is invalid. This is not a valid IPv4 address.", s, name)
	}
	return a, nil
}
