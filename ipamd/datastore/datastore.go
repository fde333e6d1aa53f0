// Package datastore is ipamd's record of the node's ENIs, their /32
// addresses or /28 prefixes, and which pod holds which address. It is a
// plain state machine (every method takes the time it should act at) so the
// pool manager, the gRPC server and tests share one source of truth; every
// assign and release is checkpointed before it is acknowledged, so a
// restarted ipamd never hands out an address a running pod still uses.
package datastore

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// IPsPerPrefix is the number of addresses in a delegated /28 prefix.
const IPsPerPrefix = 16

// Errors returned by Store methods (wrapped; test with errors.Is).
var (
	// ErrNoAvailableIP: every address is assigned or cooling down. The
	// text is upstream's, which operators grep for.
	ErrNoAvailableIP = errors.New("AssignPodIPAddress: no available IP/Prefix addresses")
	// ErrUnknownPod: no assignment for that key. The text is upstream's;
	// the CNI plugin treats it as success on DEL.
	ErrUnknownPod = errors.New("datastore: unknown pod")
	// ErrUnknownENI: no ENI with that id.
	ErrUnknownENI = errors.New("datastore: unknown ENI")
	// ErrInUse: the ENI or CIDR still has assigned or cooling addresses.
	ErrInUse = errors.New("datastore: addresses in use")
	// ErrDuplicateIP: the address is already held by another pod.
	ErrDuplicateIP = errors.New("datastore: address already assigned")
)

// Key identifies one pod attachment, as upstream's IPAMKey does.
type Key struct {
	NetworkName string `json:"networkName"`
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifName"`
}

func (k Key) String() string { return k.NetworkName + "/" + k.ContainerID + "/" + k.IfName }

// Pod is what ipamd knows of the pod behind a key; restore uses it to find
// the pod's host veth.
type Pod struct {
	Name      string
	Namespace string
	Netns     string
}

// ENI is an attached network interface as the datastore keeps it.
type ENI struct {
	ID           string
	MAC          string
	DeviceNumber int
	Primary      bool
	PrimaryIP    netip.Addr
	SubnetID     string
	SubnetCIDR   netip.Prefix
	// AddedAt is when ipamd first saw the ENI; younger than ENIMinAge it
	// is never freed.
	AddedAt time.Time
}

// Assignment is one address held by one pod.
type Assignment struct {
	Key          Key
	Pod          Pod
	IP           netip.Addr
	CIDR         netip.Prefix // the /32 or /28 the address belongs to
	ENIID        string
	DeviceNumber int
	AssignedAt   time.Time
}

// CIDRInfo describes one /32 or /28 of an ENI.
type CIDRInfo struct {
	Prefix   netip.Prefix
	AddedAt  time.Time
	Assigned int
	Cooling  int
}

// ENIInfo is a snapshot of one ENI with its CIDRs, in address order.
type ENIInfo struct {
	ENI
	Usable   bool
	CIDRs    []CIDRInfo
	IPs      int // addresses (a /28 counts 16)
	Assigned int
	Cooling  int
}

// Stats sums the pool. Available = Total − Assigned (cooling addresses count
// as available but are not handed out), as upstream. As upstream's
// GetIPStats, TotalIPs, AssignedIPs and CoolingIPs count only CIDRs of the
// current mode (/28s in prefix mode, /32s otherwise): after a mode switch,
// pods still on old-mode CIDRs are not counted; Prefixes and FreePrefixes
// count every /28.
type Stats struct {
	ENIs         int
	TotalIPs     int
	AssignedIPs  int
	CoolingIPs   int
	Prefixes     int
	FreePrefixes int // prefixes with nothing assigned (cooling addresses allowed: upstream GetFreePrefixes)
}

// Available is Total − Assigned.
func (s Stats) Available() int { return s.TotalIPs - s.AssignedIPs }

type slot struct {
	ip         netip.Addr
	ipStr      string // ip.String(), kept for the checkpoint written on every change
	key        *Key
	pod        Pod
	assignedAt time.Time
	releasedAt time.Time // zero = never released
	// entry and cool are this slot's checkpoint lines, built once per
	// assign or release so that writing the checkpoint only gathers them.
	entry *CheckpointEntry
	cool  *CoolingEntry
	// gen is the checkpoint change that wrote this assignment; a repeated
	// ADD waits for it as the first one does.
	gen uint64
}

type cidr struct {
	prefix  netip.Prefix
	addedAt time.Time
	slots   []slot
}

type eni struct {
	ENI
	usable bool
	cidrs  []*cidr // sorted by address
	free   int     // slots without a pod (cooling included)
}

type ref struct {
	eni  *eni
	cidr *cidr
	idx  int
}

// Options configure a Store.
type Options struct {
	// Cooldown is how long a released address is not handed out again
	// (IP_COOLDOWN_PERIOD).
	Cooldown time.Duration
	// Checkpoint persists assignments; nil = none.
	Checkpoint Checkpointer
}

// Store is the datastore. It is safe for concurrent use.
type Store struct {
	mu         sync.Mutex
	opts       Options
	prefixMode bool
	enis       map[string]*eni
	order      []*eni // by device number
	assigned   map[Key]ref
	gen        uint64 // checkpoint changes staged so far
	commit     *groupCommit
}

// New returns an empty store.
func New(opts Options) *Store {
	s := &Store{opts: opts, enis: map[string]*eni{}, assigned: map[Key]ref{}}
	if opts.Checkpoint != nil {
		s.commit = newGroupCommit(opts.Checkpoint.Save)
	}
	return s
}

// AddENI records an ENI; adding a known id updates its description and keeps
// its addresses. New ENIs start usable.
func (s *Store) AddENI(e ENI) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.enis[e.ID]; ok {
		added := old.AddedAt
		old.ENI = e
		if !added.IsZero() {
			old.AddedAt = added
		}
		s.sortENIs()
		return
	}
	x := &eni{ENI: e, usable: true}
	s.enis[e.ID] = x
	s.order = append(s.order, x)
	s.sortENIs()
}

// SetPrefixMode sets the mode (ENABLE_PREFIX_DELEGATION): pods get
// addresses only from /28 prefixes in prefix mode and only from /32s
// otherwise, as upstream's AssignPodIPv4Address checks IsPrefix against
// isPDEnabled. CIDRs of the other mode, left by a mode switch, keep the
// pods they have until those leave.
func (s *Store) SetPrefixMode(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prefixMode = on
}

// currentMode reports whether c is of the mode pods get addresses from.
func (s *Store) currentMode(c *cidr) bool { return (c.prefix.Bits() == 28) == s.prefixMode }

func (s *Store) sortENIs() {
	sort.SliceStable(s.order, func(i, j int) bool { return s.order[i].DeviceNumber < s.order[j].DeviceNumber })
}

// SetUsable marks whether addresses of the ENI may be handed out (false
// while its node networking is not set up).
func (s *Store) SetUsable(id string, usable bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.enis[id]
	if !ok {
		return fmt.Errorf("%w %s", ErrUnknownENI, id)
	}
	x.usable = usable
	return nil
}

// RemoveENI forgets an ENI. Without force it refuses (ErrInUse) while any of
// its addresses is assigned or cooling; with force it drops those
// assignments too and returns them (checkpointing the change).
func (s *Store) RemoveENI(id string, force bool, now time.Time) ([]Assignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.enis[id]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownENI, id)
	}
	var dropped []Assignment
	for _, c := range x.cidrs {
		for i := range c.slots {
			sl := &c.slots[i]
			if sl.key != nil {
				if !force {
					return nil, fmt.Errorf("ENI %s: %w (%s held by %s)", id, ErrInUse, sl.ip, sl.key)
				}
				dropped = append(dropped, s.assignmentOf(x, c, i))
			} else if !force && s.cooling(sl, now) {
				return nil, fmt.Errorf("ENI %s: %w (%s cooling down)", id, ErrInUse, sl.ip)
			}
		}
	}
	for _, a := range dropped {
		delete(s.assigned, a.Key)
	}
	delete(s.enis, id)
	for i, o := range s.order {
		if o == x {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	if len(dropped) > 0 {
		if err := s.saveLocked(); err != nil {
			return dropped, err
		}
	}
	return dropped, nil
}

// AddCIDR adds a /32 address or a /28 prefix to an ENI; adding one it
// already has is a no-op.
func (s *Store) AddCIDR(eniID string, p netip.Prefix, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.enis[eniID]
	if !ok {
		return fmt.Errorf("%w %s", ErrUnknownENI, eniID)
	}
	p = p.Masked()
	if !p.Addr().Is4() || (p.Bits() != 32 && p.Bits() != 28) {
		return fmt.Errorf("datastore: %v is neither an IPv4 /32 nor a /28", p)
	}
	for _, c := range x.cidrs {
		if c.prefix == p {
			return nil
		}
	}
	c := &cidr{prefix: p, addedAt: now}
	n := 1 << (32 - p.Bits())
	c.slots = make([]slot, n)
	ip := p.Addr()
	for i := 0; i < n; i++ {
		c.slots[i].ip = ip
		c.slots[i].ipStr = ip.String()
		ip = ip.Next()
	}
	x.cidrs = append(x.cidrs, c)
	sort.Slice(x.cidrs, func(i, j int) bool { return x.cidrs[i].prefix.Addr().Less(x.cidrs[j].prefix.Addr()) })
	x.free += n
	return nil
}

// RemoveCIDR removes an address or prefix from an ENI. Without force it
// refuses (ErrInUse) while any address in it is assigned (cooling ones may
// go, as upstream's FindFreeableCidrs allows); with force it drops those
// assignments and returns them.
func (s *Store) RemoveCIDR(eniID string, p netip.Prefix, force bool, now time.Time) ([]Assignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.enis[eniID]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownENI, eniID)
	}
	p = p.Masked()
	for ci, c := range x.cidrs {
		if c.prefix != p {
			continue
		}
		var dropped []Assignment
		for i := range c.slots {
			sl := &c.slots[i]
			if sl.key != nil {
				if !force {
					return nil, fmt.Errorf("%v on %s: %w (%s held by %s)", p, eniID, ErrInUse, sl.ip, sl.key)
				}
				dropped = append(dropped, s.assignmentOf(x, c, i))
			}
		}
		for _, a := range dropped {
			delete(s.assigned, a.Key)
		}
		x.free -= len(c.slots) - len(dropped)
		x.cidrs = append(x.cidrs[:ci], x.cidrs[ci+1:]...)
		if len(dropped) > 0 {
			if err := s.saveLocked(); err != nil {
				return dropped, err
			}
		}
		return dropped, nil
	}
	return nil, nil
}

func (s *Store) cooling(sl *slot, now time.Time) bool {
	return !sl.releasedAt.IsZero() && now.Sub(sl.releasedAt) < s.opts.Cooldown
}

func (s *Store) assignmentOf(x *eni, c *cidr, i int) Assignment {
	sl := &c.slots[i]
	return Assignment{Key: *sl.key, Pod: sl.pod, IP: sl.ip, CIDR: c.prefix, ENIID: x.ID, DeviceNumber: x.DeviceNumber, AssignedAt: sl.assignedAt}
}

// Assign gives the pod an address: the one it already holds when the key is
// known (a repeated ADD), else the first address, in device then address
// order, of a CIDR of the current mode that is neither assigned nor cooling
// down. The assignment is
// checkpointed before Assign returns; if that fails it is undone.
// Concurrent Assigns and Releases share checkpoint writes (groupCommit).
// Errors: ErrNoAvailableIP.
func (s *Store) Assign(k Key, pod Pod, now time.Time) (Assignment, error) {
	a, gen, entry, err := s.assign(k, pod, now)
	if err != nil {
		return Assignment{}, err
	}
	if err := s.waitDurable(gen); err != nil {
		if entry != nil {
			s.undoAssign(k, entry)
		}
		return Assignment{}, fmt.Errorf("checkpoint: %w", err)
	}
	return a, nil
}

// assign picks and stages the assignment; entry is its checkpoint line when
// it is new (nil for a repeated ADD).
func (s *Store) assign(k Key, pod Pod, now time.Time) (Assignment, uint64, *CheckpointEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.assigned[k]; ok {
		return s.assignmentOf(r.eni, r.cidr, r.idx), r.cidr.slots[r.idx].gen, nil, nil
	}
	for _, x := range s.order {
		if !x.usable || x.free == 0 {
			continue
		}
		for _, c := range x.cidrs {
			if !s.currentMode(c) {
				continue
			}
			for i := range c.slots {
				sl := &c.slots[i]
				if sl.key != nil || s.cooling(sl, now) {
					continue
				}
				s.take(x, c, i, k, pod, now)
				sl.gen = s.stageLocked()
				return s.assignmentOf(x, c, i), sl.gen, sl.entry, nil
			}
		}
	}
	return Assignment{}, 0, nil, ErrNoAvailableIP
}

// undoAssign drops an assignment whose checkpoint write failed, unless it
// is gone or was replaced meanwhile.
func (s *Store) undoAssign(k Key, entry *CheckpointEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.assigned[k]; ok && r.cidr.slots[r.idx].entry == entry {
		s.drop(k)
	}
}

func (s *Store) take(x *eni, c *cidr, i int, k Key, pod Pod, now time.Time) {
	sl := &c.slots[i]
	kk := k
	sl.key = &kk
	sl.pod = pod
	sl.assignedAt = now
	sl.releasedAt = time.Time{}
	sl.cool = nil
	sl.gen = 0 // restored assignments are on disk already; Assign sets its own
	sl.entry = &CheckpointEntry{
		Key: k, IPv4: sl.ipStr, AllocationTimestamp: now.UnixNano(),
		Metadata: Metadata{K8SPodNamespace: pod.Namespace, K8SPodName: pod.Name, Netns: pod.Netns},
	}
	x.free--
	s.assigned[k] = ref{eni: x, cidr: c, idx: i}
}

// drop undoes take without starting a cooldown.
func (s *Store) drop(k Key) {
	r := s.assigned[k]
	sl := &r.cidr.slots[r.idx]
	sl.key = nil
	sl.pod = Pod{}
	sl.entry = nil
	r.eni.free++
	delete(s.assigned, k)
}

// AssignIP records that the pod holds ip (restore from a checkpoint). It
// does not checkpoint; call Save after a batch.
// Errors: ErrUnknownENI when no ENI has the address, ErrDuplicateIP when
// another key holds it.
func (s *Store) AssignIP(k Key, pod Pod, ip netip.Addr, at time.Time) (Assignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.order {
		for _, c := range x.cidrs {
			if !c.prefix.Contains(ip) {
				continue
			}
			i := int(ipIndex(c.prefix, ip))
			sl := &c.slots[i]
			if sl.key != nil {
				if *sl.key == k {
					return s.assignmentOf(x, c, i), nil
				}
				return Assignment{}, fmt.Errorf("%s for %s: %w to %s", ip, k, ErrDuplicateIP, sl.key)
			}
			if old, ok := s.assigned[k]; ok {
				return Assignment{}, fmt.Errorf("%s: %w (key already holds %s)", k, ErrDuplicateIP, old.cidr.slots[old.idx].ip)
			}
			s.take(x, c, i, k, pod, at)
			return s.assignmentOf(x, c, i), nil
		}
	}
	return Assignment{}, fmt.Errorf("%w with address %s", ErrUnknownENI, ip)
}

// MarkCooling starts the cooldown of a free address as if it had been
// released at releasedAt (restore of the checkpoint's cooling list).
func (s *Store) MarkCooling(ip netip.Addr, releasedAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.order {
		for _, c := range x.cidrs {
			if c.prefix.Contains(ip) {
				sl := &c.slots[ipIndex(c.prefix, ip)]
				if sl.key == nil {
					sl.releasedAt = releasedAt
					sl.cool = &CoolingEntry{IPv4: sl.ipStr, ReleasedAt: releasedAt.UnixNano()}
				}
				return
			}
		}
	}
}

func ipIndex(p netip.Prefix, ip netip.Addr) uint32 {
	a, b := p.Addr().As4(), ip.As4()
	return (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) -
		(uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]))
}

// Release frees the pod's address; it cools down before reuse. The release
// is checkpointed before Release returns. Errors: ErrUnknownPod.
func (s *Store) Release(k Key, now time.Time) (Assignment, error) {
	a, gen, err := s.release(k, now)
	if err != nil {
		return Assignment{}, err
	}
	if err := s.waitDurable(gen); err != nil {
		return a, fmt.Errorf("checkpoint: %w", err)
	}
	return a, nil
}

func (s *Store) release(k Key, now time.Time) (Assignment, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.assigned[k]
	if !ok {
		return Assignment{}, 0, fmt.Errorf("%w %s", ErrUnknownPod, k)
	}
	a := s.assignmentOf(r.eni, r.cidr, r.idx)
	s.drop(k)
	sl := &r.cidr.slots[r.idx]
	sl.releasedAt = now
	sl.cool = &CoolingEntry{IPv4: sl.ipStr, ReleasedAt: now.UnixNano()}
	return a, s.stageLocked(), nil
}

// Lookup returns the pod's assignment, if any.
func (s *Store) Lookup(k Key) (Assignment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.assigned[k]
	if !ok {
		return Assignment{}, false
	}
	return s.assignmentOf(r.eni, r.cidr, r.idx), true
}

// Stats sums the pool at now.
func (s *Store) Stats(now time.Time) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st Stats
	st.ENIs = len(s.order)
	for _, x := range s.order {
		for _, c := range x.cidrs {
			cur := s.currentMode(c)
			assigned, cooling := 0, 0
			for i := range c.slots {
				sl := &c.slots[i]
				if sl.key != nil {
					assigned++
				} else if s.cooling(sl, now) {
					cooling++
				}
			}
			if cur {
				st.TotalIPs += len(c.slots)
				st.AssignedIPs += assigned
				st.CoolingIPs += cooling
			}
			if c.prefix.Bits() == 28 {
				st.Prefixes++
				if assigned == 0 {
					st.FreePrefixes++
				}
			}
		}
	}
	return st
}

// ENIs returns a snapshot of every ENI in device order.
func (s *Store) ENIs(now time.Time) []ENIInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ENIInfo, 0, len(s.order))
	for _, x := range s.order {
		info := ENIInfo{ENI: x.ENI, Usable: x.usable}
		for _, c := range x.cidrs {
			ci := CIDRInfo{Prefix: c.prefix, AddedAt: c.addedAt}
			for i := range c.slots {
				if c.slots[i].key != nil {
					ci.Assigned++
				} else if s.cooling(&c.slots[i], now) {
					ci.Cooling++
				}
			}
			info.CIDRs = append(info.CIDRs, ci)
			info.IPs += len(c.slots)
			info.Assigned += ci.Assigned
			info.Cooling += ci.Cooling
		}
		out = append(out, info)
	}
	return out
}

// ENI returns one ENI's snapshot.
func (s *Store) ENI(id string, now time.Time) (ENIInfo, bool) {
	for _, e := range s.ENIs(now) {
		if e.ID == id {
			return e, true
		}
	}
	return ENIInfo{}, false
}

// Assignments returns every assignment, ordered by address.
func (s *Store) Assignments() []Assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Assignment, 0, len(s.assigned))
	for _, r := range s.assigned {
		out = append(out, s.assignmentOf(r.eni, r.cidr, r.idx))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out
}

// Save writes the checkpoint now.
func (s *Store) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLocked()
}

// saveLocked stages the current state and waits for it to be written,
// holding the lock (the rare changes of ENIs and CIDRs).
func (s *Store) saveLocked() error {
	return s.waitDurable(s.stageLocked())
}

func (s *Store) waitDurable(gen uint64) error {
	if s.commit == nil {
		return nil
	}
	return s.commit.wait(gen)
}

// stageLocked numbers the change and hands its checkpoint to the group
// commit. The snapshot shares the slots' entries, which are never changed
// once built (an assign or release builds new ones).
func (s *Store) stageLocked() uint64 {
	if s.commit == nil {
		return 0
	}
	cp := Checkpoint{Version: CheckpointVersion, Allocations: make([]*CheckpointEntry, 0, len(s.assigned))}
	for _, x := range s.order {
		for _, c := range x.cidrs {
			for i := range c.slots {
				sl := &c.slots[i]
				switch {
				case sl.entry != nil:
					cp.Allocations = append(cp.Allocations, sl.entry)
				case sl.cool != nil:
					cp.Cooling = append(cp.Cooling, sl.cool)
				}
			}
		}
	}
	s.gen++
	s.commit.stage(s.gen, cp)
	return s.gen
}

// FreeableCIDRs returns the CIDRs of an ENI that could be given back to EC2
// now: nothing in them assigned (upstream FindFreeableCidrs: an address
// cooling down may be given back; cooldown only stops its reuse for a
// pod). Order: highest address first, so the pool shrinks from the end it
// grew at.
func (s *Store) FreeableCIDRs(eniID string, now time.Time) []netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.enis[eniID]
	if !ok {
		return nil
	}
	var out []netip.Prefix
	for i := len(x.cidrs) - 1; i >= 0; i-- {
		c := x.cidrs[i]
		busy := false
		for j := range c.slots {
			if c.slots[j].key != nil {
				busy = true
				break
			}
		}
		if !busy {
			out = append(out, c.prefix)
		}
	}
	return out
}

// FreeablePrefixes returns the /28s of an ENI with nothing assigned
// (upstream's FreeablePrefixes), highest first.
func (s *Store) FreeablePrefixes(eniID string, now time.Time) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range s.FreeableCIDRs(eniID, now) {
		if c.Bits() == 28 {
			out = append(out, c)
		}
	}
	return out
}
