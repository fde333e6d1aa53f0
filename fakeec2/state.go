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
	ipv6      []cidrAssoc // Amazon-provided /56 blocks (ipv6.go)
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
	v6           *subnetV6 // its IPv6 /64 and what is taken of it (ipv6.go); nil without
	// mapPublic is MapPublicIpOnLaunch: instances launched here get a
	// public address on their primary ENI.
	mapPublic bool
}

type secGroup struct {
	id, name, desc, vpcID string
	tags                  map[string]string
	rules                 []*sgRule // inbound and outbound (sgrules.go)
}

type instance struct {
	id, typ, az, imageID, reservationID string
	lim                                 ec2limits.Type
	subnet                              *subnet
	primaryIP                           netip.Addr
	sgs                                 []string
	enis                                []*eni // attached, any order
	state                               string // running | terminated (pending and shutting-down: see phase)
	launched                            time.Time
	runningAt, goneAt                   time.Time // pending until runningAt, shutting-down until goneAt
	launchIndex                         int       // amiLaunchIndex: its place in its RunInstances call
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
	ipv6                  []addrEntry   // IPv6 addresses (ipv6.go)
	pfx6                  []prefixEntry // IPv6 /80 prefixes (ipv6.go)
	tags                  map[string]string
	sgs                   []string
	inst                  *instance
	attachID              string
	device, card          int
	dot                   bool
	// noSourceDestCheck is SourceDestCheck negated, so a new ENI checks.
	noSourceDestCheck bool
	attachedAt        time.Time // zero = visible at once (primary ENI)
	attachTime        time.Time // reported attachTime
	seq               uint64
	deleted           bool
	// trunk is a branch ENI's association with its trunk (trunk.go).
	trunk *trunkAssoc
	// public is the public address mapped to the primary private address
	// (Amazon-owned, or eip's); requester marks an ENI AWS manages (a NAT
	// gateway's).
	public    netip.Addr
	eip       *eip
	requester bool
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
	trunks          map[string]*trunkAssoc // branch-to-trunk associations by id (trunk.go)
	macs            map[string]bool        // every MAC ever handed out: never reused, so a stale link cannot be mistaken for a new ENI
	// eniList holds ENIs in creation order for stable Describe output and
	// NextToken paging; deleted ENIs are tombstoned and compacted lazily.
	eniList   []*eni
	eniDead   int
	seq       uint64
	instOrder []*instance

	routeTables map[string]*routeTable
	igws        map[string]*internetGateway
	natgws      map[string]*natGateway
	eips        map[string]*eip
	publicUsed  map[netip.Addr]bool
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
		trunks:       map[string]*trunkAssoc{},
		macs:         map[string]bool{},
		routeTables:  map[string]*routeTable{},
		igws:         map[string]*internetGateway{},
		natgws:       map[string]*natGateway{},
		eips:         map[string]*eip{},
		publicUsed:   map[netip.Addr]bool{},
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
const maxIPv4PerENI = ec2limits.MaxIPv4PerENI

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
	if _, ok := st.trunks[id]; ok {
		return true
	}
	if _, ok := st.reservations[id]; ok {
		return true
	}
	return st.egressIDTaken(id)
}

func (st *state) egressIDTaken(id string) bool {
	if _, ok := st.routeTables[id]; ok {
		return true
	}
	if _, ok := st.igws[id]; ok {
		return true
	}
	if _, ok := st.natgws[id]; ok {
		return true
	}
	_, ok := st.eips[id]
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
