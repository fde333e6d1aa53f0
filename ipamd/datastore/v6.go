package datastore

import (
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// V6Pool is ipamd's datastore in IPv6 mode: the primary ENI's one /80
// prefix, from which every pod gets a /128 (upstream's DataStore with
// IPv6Cidrs and AssignPodIPv6Address). A /80 holds 2^48 addresses, so
// only the addresses handed out or cooling down are kept, as upstream's
// CidrInfo.IPAddresses map does. There is no warm pool: the prefix is
// assigned once at start and never freed.
type V6Pool struct {
	mu      sync.Mutex
	opts    Options
	eni     ENI
	prefix  netip.Prefix
	addedAt time.Time
	addrs   map[netip.Addr]*v6addr
	byKey   map[Key]netip.Addr
}

type v6addr struct {
	key        *Key
	pod        Pod
	assignedAt time.Time
	releasedAt time.Time
}

// NewV6 returns a pool with no prefix yet.
func NewV6(opts Options) *V6Pool {
	return &V6Pool{opts: opts, addrs: map[netip.Addr]*v6addr{}, byKey: map[Key]netip.Addr{}}
}

// SetPrefix records the ENI and its /80 (upstream's AddIPv6CidrToStore with
// isPrefix true). Setting the prefix already held is a no-op.
func (p *V6Pool) SetPrefix(e ENI, prefix netip.Prefix, now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	prefix = prefix.Masked()
	if !prefix.Addr().Is6() || prefix.Addr().Is4In6() || prefix.Bits() > 120 {
		return fmt.Errorf("datastore: %v is not an IPv6 prefix", prefix)
	}
	if p.prefix.IsValid() && p.prefix != prefix {
		return fmt.Errorf("datastore: ENI %s already has IPv6 prefix %v (not %v)", p.eni.ID, p.prefix, prefix)
	}
	p.eni, p.prefix = e, prefix
	if p.addedAt.IsZero() {
		p.addedAt = now
	}
	return nil
}

// Prefix is the /80 pods get addresses from (invalid before SetPrefix).
func (p *V6Pool) Prefix() netip.Prefix {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.prefix
}

// ENI is the ENI holding the prefix.
func (p *V6Pool) ENI() ENI {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.eni
}

func (p *V6Pool) cooling(a *v6addr, now time.Time) bool {
	return !a.releasedAt.IsZero() && now.Sub(a.releasedAt) < p.opts.Cooldown
}

// Assign gives the pod an address of the prefix, as upstream's
// AssignPodIPv6Address over getUnusedIP: the address it holds on a repeated
// ADD; else a released address whose cooldown is over (the lowest, where
// upstream takes any); else the first address from the prefix's start that
// was never handed out. Checkpointed before it returns; undone if that
// fails. Errors: ErrNoAvailableIP (no prefix yet, or the prefix is full).
func (p *V6Pool) Assign(k Key, pod Pod, now time.Time) (Assignment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ip, ok := p.byKey[k]; ok {
		return p.assignment(ip), nil
	}
	if !p.prefix.IsValid() {
		return Assignment{}, ErrNoAvailableIP
	}
	ip, ok := p.freeAddr(now)
	if !ok {
		return Assignment{}, ErrNoAvailableIP
	}
	old := p.addrs[ip]
	kk := k
	p.addrs[ip] = &v6addr{key: &kk, pod: pod, assignedAt: now}
	p.byKey[k] = ip
	if err := p.saveLocked(); err != nil {
		delete(p.byKey, k)
		if old != nil {
			p.addrs[ip] = old
		} else {
			delete(p.addrs, ip)
		}
		return Assignment{}, fmt.Errorf("checkpoint: %w", err)
	}
	return p.assignment(ip), nil
}

// freeAddr finds the address Assign hands out; reused addresses whose
// cooldown is over are forgotten, as upstream's getUnusedIP deletes them.
func (p *V6Pool) freeAddr(now time.Time) (netip.Addr, bool) {
	var reuse netip.Addr
	for ip, a := range p.addrs {
		if a.key != nil || p.cooling(a, now) {
			continue
		}
		if !reuse.IsValid() || ip.Less(reuse) {
			reuse = ip
		}
	}
	if reuse.IsValid() {
		return reuse, true
	}
	for ip := p.prefix.Addr(); p.prefix.Contains(ip); ip = ip.Next() {
		if _, ok := p.addrs[ip]; !ok {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

func (p *V6Pool) assignment(ip netip.Addr) Assignment {
	a := p.addrs[ip]
	return Assignment{Key: *a.key, Pod: a.pod, IP: ip, CIDR: p.prefix, ENIID: p.eni.ID,
		DeviceNumber: p.eni.DeviceNumber, AssignedAt: a.assignedAt}
}

// Release frees the pod's address; it cools down before reuse
// (upstream's UnassignPodIPAddress). Errors: ErrUnknownPod.
func (p *V6Pool) Release(k Key, now time.Time) (Assignment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ip, ok := p.byKey[k]
	if !ok {
		return Assignment{}, fmt.Errorf("%w %s", ErrUnknownPod, k)
	}
	out := p.assignment(ip)
	delete(p.byKey, k)
	p.addrs[ip] = &v6addr{releasedAt: now}
	if err := p.saveLocked(); err != nil {
		return out, fmt.Errorf("checkpoint: %w", err)
	}
	return out, nil
}

// AssignIP records that the pod holds ip (restore from a checkpoint); it
// does not checkpoint. Errors: ErrUnknownENI when ip is outside the
// prefix, ErrDuplicateIP when another key holds it.
func (p *V6Pool) AssignIP(k Key, pod Pod, ip netip.Addr, at time.Time) (Assignment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.prefix.IsValid() || !p.prefix.Contains(ip) {
		return Assignment{}, fmt.Errorf("%w with address %s", ErrUnknownENI, ip)
	}
	if a, ok := p.addrs[ip]; ok && a.key != nil {
		if *a.key == k {
			return p.assignment(ip), nil
		}
		return Assignment{}, fmt.Errorf("%s for %s: %w to %s", ip, k, ErrDuplicateIP, a.key)
	}
	if old, ok := p.byKey[k]; ok {
		return Assignment{}, fmt.Errorf("%s: %w (key already holds %s)", k, ErrDuplicateIP, old)
	}
	kk := k
	p.addrs[ip] = &v6addr{key: &kk, pod: pod, assignedAt: at}
	p.byKey[k] = ip
	return p.assignment(ip), nil
}

// MarkCooling starts the cooldown of a free address of the prefix as if
// released at releasedAt (restore of the checkpoint's cooling list).
func (p *V6Pool) MarkCooling(ip netip.Addr, releasedAt time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.addrs[ip]; (ok && a.key != nil) || !p.prefix.Contains(ip) {
		return
	}
	p.addrs[ip] = &v6addr{releasedAt: releasedAt}
}

// Assignments returns the addresses held by pods, ordered by address.
func (p *V6Pool) Assignments() []Assignment {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Assignment, 0, len(p.byKey))
	for _, ip := range p.byKey {
		out = append(out, p.assignment(ip))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out
}

// Assigned is how many pods hold an address.
func (p *V6Pool) Assigned() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byKey)
}

// Save writes the checkpoint now.
func (p *V6Pool) Save() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.saveLocked()
}

// saveLocked writes upstream's checkpoint with "ipv6" entries (and no
// "ipv4"), in address order.
func (p *V6Pool) saveLocked() error {
	if p.opts.Checkpoint == nil {
		return nil
	}
	ips := make([]netip.Addr, 0, len(p.addrs))
	for ip := range p.addrs {
		ips = append(ips, ip)
	}
	sort.Slice(ips, func(i, j int) bool { return ips[i].Less(ips[j]) })
	cp := Checkpoint{Version: CheckpointVersion, Allocations: make([]*CheckpointEntry, 0, len(p.byKey))}
	for _, ip := range ips {
		a := p.addrs[ip]
		if a.key != nil {
			cp.Allocations = append(cp.Allocations, &CheckpointEntry{
				Key: *a.key, IPv6: ip.String(), AllocationTimestamp: a.assignedAt.UnixNano(),
				Metadata: Metadata{K8SPodNamespace: a.pod.Namespace, K8SPodName: a.pod.Name, Netns: a.pod.Netns},
			})
		} else {
			cp.Cooling = append(cp.Cooling, &CoolingEntry{IPv6: ip.String(), ReleasedAt: a.releasedAt.UnixNano()})
		}
	}
	return p.opts.Checkpoint.Save(cp)
}
