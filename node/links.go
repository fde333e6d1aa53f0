package node

import (
	"fmt"
	"net"
	"time"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/clock"
)

// eniLink is an ENI attached to this node and the link standing for it.
type eniLink struct {
	id      string
	device  int
	mac     net.HardwareAddr
	name    string // eth<device>
	peer    string // VPC-side veth name
	due     time.Time
	created bool
}

// createLink makes the ENI's link now and routes its addresses to it.
func (n *Node) createLink(e fakeec2.ENI) (*eniLink, error) {
	mac, err := net.ParseMAC(e.MAC)
	if err != nil {
		return nil, fmt.Errorf("node: %s: ENI %s MAC %q: %w", n.name, e.ID, e.MAC, err)
	}
	n.peerSeq++
	link := &eniLink{
		id:     e.ID,
		device: e.DeviceIndex,
		mac:    mac,
		name:   fmt.Sprintf("eth%d", e.DeviceIndex),
		peer:   fmt.Sprintf("n%dx%d", n.index, n.peerSeq),
	}
	if err := n.lab.fabric.addENILink(n.lab.backend, n.h, n.nsFD, link.name, link.peer, mac); err != nil {
		return nil, fmt.Errorf("node: %s: ENI %s: %w", n.name, e.ID, err)
	}
	link.created = true
	n.links[e.ID] = link
	if n.lab.backend == BackendVeth {
		n.lab.fabric.setPeer(e.ID, link.peer)
	}
	if err := n.syncLink(link); err != nil {
		return link, err
	}
	n.log.Debug("ENI link up", "eni", e.ID, "link", link.name, "mac", e.MAC)
	return link, nil
}

// syncLink makes the VPC route the ENI's current addresses to its link.
func (n *Node) syncLink(link *eniLink) error {
	if n.lab.backend != BackendVeth || !link.created {
		return nil
	}
	id := link.id
	return n.lab.fabric.syncRoutes(link.peer, func() (fakeec2.ENI, bool) {
		e, ok := n.lab.ec2.ENI(id)
		if ok && e.InstanceID != n.instanceID {
			return fakeec2.ENI{}, false
		}
		return e, ok
	})
}

func (n *Node) removeLink(link *eniLink) error {
	delete(n.links, link.id)
	if !link.created {
		return nil
	}
	if n.lab.backend == BackendVeth {
		n.lab.fabric.forgetPeer(link.id)
		return n.lab.fabric.removePeer(link.peer)
	}
	l, err := n.h.LinkByName(link.name)
	if err != nil {
		return nil
	}
	return n.h.LinkDel(l)
}

// enqueue hands the worker one fakeec2 event of this node's instance.
func (n *Node) enqueue(ev fakeec2.Event) {
	if n.fleet() {
		return // no links to keep: a fleet node has no datapath
	}
	n.qmu.Lock()
	n.queue = append(n.queue, ev)
	n.qmu.Unlock()
	select {
	case n.qsig <- struct{}{}:
	default:
	}
}

// work applies fakeec2's events to the node's links in commit order; an
// attach becomes a link only HotplugDelay later, without holding up the
// events behind it.
func (n *Node) work() {
	c := n.lab.clock
	for {
		n.qmu.Lock()
		batch := n.queue
		n.queue = nil
		n.qmu.Unlock()
		for _, ev := range batch {
			n.apply(ev)
		}
		now := c.Now()
		next := n.plugDue(now)
		var timer clock.Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			timer = c.NewTimer(next.Sub(now))
			fire = timer.C()
		}
		select {
		case <-n.ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-n.qsig:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// plugDue creates the links of attached ENIs whose hot-plug delay is over
// and returns when the next one is due (zero: none waiting).
func (n *Node) plugDue(now time.Time) time.Time {
	var next time.Time
	for _, link := range n.links {
		if link.created {
			continue
		}
		if !link.due.After(now) {
			e, ok := n.lab.ec2.ENI(link.id)
			delete(n.links, link.id)
			if ok && e.InstanceID == n.instanceID {
				if _, err := n.createLink(e); err != nil {
					n.log.Error("hot-plug ENI link", "eni", link.id, "err", err)
				}
			}
			continue
		}
		if next.IsZero() || link.due.Before(next) {
			next = link.due
		}
	}
	return next
}

func (n *Node) apply(ev fakeec2.Event) {
	link := n.links[ev.ENI.ID]
	switch ev.Kind {
	case fakeec2.ENIAttached:
		if link != nil {
			if err := n.syncLink(link); err != nil {
				n.log.Error("VPC routes", "eni", ev.ENI.ID, "err", err)
			}
			return
		}
		n.links[ev.ENI.ID] = &eniLink{id: ev.ENI.ID, device: ev.ENI.DeviceIndex, due: n.lab.clock.Now().Add(n.lab.cfg.HotplugDelay)}
	case fakeec2.AddressesChanged, fakeec2.AttributeChanged:
		if link != nil {
			if err := n.syncLink(link); err != nil {
				n.log.Error("VPC routes", "eni", ev.ENI.ID, "err", err)
			}
		}
	case fakeec2.ENIDetached, fakeec2.ENIDeleted:
		if link != nil {
			if err := n.removeLink(link); err != nil {
				n.log.Error("unplug ENI link", "eni", ev.ENI.ID, "err", err)
			}
		}
	case fakeec2.InstanceTerminated:
		for _, l := range n.links {
			_ = n.removeLink(l)
		}
	}
}
