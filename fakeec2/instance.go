package fakeec2

import (
	"maps"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/enilab/enilab/internal/ec2limits"
)

// Instances: launch and termination. Everything here runs with Server.mu
// held.

func (st *state) runInstances(typ, subnetID string, groups []string, primary netip.Addr, count int, imageID string, tags map[string]string, now time.Time) ([]*instance, *Error) {
	if subnetID == "" {
		return nil, errCode("VPCIdNotSpecified", 400, "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.")
	}
	sn, ok := st.subnets[subnetID]
	if !ok {
		return nil, subnetNotFound(subnetID)
	}
	if typ == "" {
		return nil, missingParam("InstanceType")
	}
	lim, ok := ec2limits.Lookup(typ)
	if !ok {
		return nil, invalidParam("The instance type '%s' does not exist", typ)
	}
	if primary.IsValid() && count > 1 {
		return nil, errCode("InvalidParameterCombination", 400, "Cannot specify a private IP address when launching more than one instance.")
	}
	if count > sn.free && !primary.IsValid() {
		return nil, insufficientAddresses(sn)
	}
	if _, e := st.checkGroups(sn.vpcID, groups, groupNotFound); e != nil {
		return nil, e
	}
	if sn.mapPublic && count > st.publicFree() {
		return nil, errCode("InsufficientAddressCapacity", 400, "There are not enough free public addresses to satisfy the request.")
	}
	resID := st.newID("r")
	var out []*instance
	for i := range count {
		n, e := st.createENI(eniRequest{subnetID: subnetID, groups: groups, primary: primary,
			desc: ""}, now)
		if e != nil { // roll back: the call launches all or nothing
			for _, in := range out {
				st.terminate(in)
				delete(st.instances, in.id)
			}
			st.instOrder = st.instOrder[:len(st.instOrder)-len(out)]
			return nil, e
		}
		in := &instance{
			id: st.newID("i"), typ: typ, az: sn.az, lim: lim, subnet: sn, primaryIP: n.ips[0].a,
			sgs: n.sgs, state: "running", launched: now, tags: map[string]string{}, seq: st.nextSeq(),
			imageID: imageID, reservationID: resID, launchIndex: i,
		}
		maps.Copy(in.tags, tags)
		st.instances[in.id] = in
		st.instOrder = append(st.instOrder, in)
		if sn.mapPublic {
			_ = st.mapPublic(n) // capacity checked above
		}
		n.inst, n.device, n.card, n.dot = in, 0, lim.DefaultNetworkCard, true
		n.attachID = st.newID("eni-attach")
		n.attachTime = now
		st.attachments[n.attachID] = n
		in.enis = append(in.enis, n)
		out = append(out, in)
	}
	return out, nil
}

// terminate detaches every ENI, deletes those marked DeleteOnTermination
// and returns them in (detached, deleted) order.
func (st *state) terminate(in *instance) (detached, deleted []*eni) {
	if in.state != "running" {
		return nil, nil
	}
	enis := slices.Clone(in.enis)
	sort.Slice(enis, func(i, j int) bool { return enis[i].seq < enis[j].seq })
	for _, n := range enis {
		dot := n.dot
		st.detachENI(n)
		detached = append(detached, n)
		if dot {
			st.freeENI(n)
			deleted = append(deleted, n)
		}
	}
	in.state = "terminated"
	return detached, deleted
}

// EC2's instance state codes.
const (
	codePending      = 0
	codeRunning      = 16
	codeShuttingDown = 32
	codeTerminated   = 48
)

// phase is the state EC2 reports at now: a launched instance is pending
// until runningAt, a terminated one shutting-down until goneAt.
func (in *instance) phase(now time.Time) (name string, code int) {
	switch {
	case in.state == "running" && now.Before(in.runningAt):
		return "pending", codePending
	case in.state == "running":
		return "running", codeRunning
	case now.Before(in.goneAt):
		return "shutting-down", codeShuttingDown
	}
	return "terminated", codeTerminated
}
