package fakeec2

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// zoneLetters are the zones every region of the fake has (us-west-2 has
// four; the fake gives each region the same four).
const zoneLetters = "abcd"

// zones returns the region's zone names in order.
func (st *state) zones() []string {
	out := make([]string, 0, len(zoneLetters))
	for _, l := range zoneLetters {
		out = append(out, st.region+string(l))
	}
	return out
}

// checkSubnetZone is CreateSubnet's answer to a zone the region lacks,
// worded as EC2 words it.
func (st *state) checkSubnetZone(az string) *Error {
	zs := st.zones()
	if slices.Contains(zs, az) {
		return nil
	}
	return invalidParam("Value (%s) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: %s.",
		truncate(az, 64), strings.Join(zs, ", "))
}

// zoneRow is one zone as a DescribeAvailabilityZones filter sees it.
type zoneRow struct{ name, id, region string }

var zoneFields = sync.OnceValue(func() fields[zoneRow] {
	return fields[zoneRow]{
		"group-name":      func(z zoneRow) []string { return one(z.region) },
		"group-long-name": func(z zoneRow) []string { return one(regionLongName(z.region)) },
		"opt-in-status":   constant[zoneRow]("opt-in-not-required"),
		"region-name":     func(z zoneRow) []string { return one(z.region) },
		"state":           constant[zoneRow]("available"),
		"zone-id":         func(z zoneRow) []string { return one(z.id) },
		"zone-name":       func(z zoneRow) []string { return one(z.name) },
		"zone-type":       constant[zoneRow]("availability-zone"),
	}.documented("DescribeAvailabilityZones")
})

// regionLongName is the console's name for the regions the lab's users
// pick; others answer their code.
func regionLongName(region string) string {
	names := map[string]string{
		"us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)",
		"us-west-1": "US West (N. California)", "us-west-2": "US West (Oregon)",
		"eu-west-1": "Europe (Ireland)", "eu-central-1": "Europe (Frankfurt)",
		"ap-southeast-1": "Asia Pacific (Singapore)", "ap-northeast-1": "Asia Pacific (Tokyo)",
	}
	if n, ok := names[region]; ok {
		return n
	}
	return region
}

// describeAvailabilityZones answers the region's zones, narrowed by
// ZoneName, ZoneId and Filters; an unknown zone name or id is an error, as
// in EC2.
func (s *Server) describeAvailabilityZones(p params, x *xw, now time.Time) *Error {
	fs, e := p.filters(zoneFields().names()...)
	if e != nil {
		return e
	}
	if _, e := p.boolean("AllAvailabilityZones"); e != nil {
		return e
	}
	var rows []zoneRow
	for _, z := range s.st.zones() {
		rows = append(rows, zoneRow{z, s.st.azID(z), s.cfg.Region})
	}
	names, ids := p.list("ZoneName"), p.list("ZoneId")
	for _, n := range names {
		if !slices.ContainsFunc(rows, func(z zoneRow) bool { return z.name == n }) {
			return invalidParam("Invalid availability zone: [%s]", truncate(n, 64))
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(rows, func(z zoneRow) bool { return z.id == id }) {
			return invalidParam("Invalid availability zone id: [%s]", truncate(id, 64))
		}
	}
	x.open("availabilityZoneInfo")
	for _, z := range rows {
		if (len(names) > 0 || len(ids) > 0) && !slices.Contains(names, z.name) && !slices.Contains(ids, z.id) {
			continue
		}
		if zoneFields().match(z, nil, fs) {
			writeZone(x, z)
		}
	}
	x.close("availabilityZoneInfo")
	return nil
}

func writeZone(x *xw, z zoneRow) {
	x.open("item")
	x.el("optInStatus", "opt-in-not-required")
	x.raw("<messageSet/>")
	x.el("regionName", z.region)
	x.el("zoneName", z.name)
	x.el("zoneId", z.id)
	x.el("groupName", z.region)
	x.el("networkBorderGroup", z.region)
	x.el("zoneType", "availability-zone")
	x.el("groupLongName", regionLongName(z.region))
	x.el("zoneState", "available")
	x.close("item")
}
