package fakeec2

import (
	"maps"
	"strings"
	"time"
)

// Tags: CreateTags, DeleteTags and the lookup they share.

func (st *state) tagsOf(id string) (map[string]string, *Error) {
	if v, ok := st.vpcs[id]; ok {
		return v.tags, nil
	}
	if sn, ok := st.subnets[id]; ok {
		return sn.tags, nil
	}
	if n, ok := st.enis[id]; ok {
		return n.tags, nil
	}
	if in, ok := st.instances[id]; ok {
		return in.tags, nil
	}
	if g, ok := st.sgs[id]; ok {
		return g.tags, nil
	}
	if m := st.egressTags(id); m != nil {
		return m, nil
	}
	switch {
	case strings.HasPrefix(id, "eni-"):
		return nil, eniNotFound(id)
	case strings.HasPrefix(id, "i-"):
		return nil, instanceNotFound(id)
	case strings.HasPrefix(id, "subnet-"):
		return nil, subnetNotFound(id)
	case strings.HasPrefix(id, "vpc-"):
		return nil, vpcNotFound(id)
	case strings.HasPrefix(id, "sg-"):
		return nil, groupNotFound(id)
	}
	return nil, errCode("InvalidID", 400, "The ID '%s' is not valid", truncate(id, 64))
}

func (s *Server) createTags(p params, x *xw, now time.Time) *Error {
	ids := p.list("ResourceId")
	if len(ids) == 0 {
		return missingParam("ResourceId")
	}
	tags, e := p.tags("Tag")
	if e != nil {
		return e
	}
	if len(tags) == 0 {
		return missingParam("Tag")
	}
	for k := range tags {
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return invalidParam("Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	var targets []map[string]string
	for _, id := range ids {
		m, e := s.st.tagsOf(id)
		if e != nil {
			return e
		}
		n := len(m)
		for k := range tags {
			if _, ok := m[k]; !ok {
				n++
			}
		}
		if n > 50 {
			return errCode("TagLimitExceeded", 400, "The maximum number of tags per resource (50) would be exceeded for '%s'.", id)
		}
		targets = append(targets, m)
	}
	for _, m := range targets {
		maps.Copy(m, tags)
	}
	x.ret()
	return nil
}

func (s *Server) deleteTags(p params, x *xw, now time.Time) *Error {
	ids := p.list("ResourceId")
	if len(ids) == 0 {
		return missingParam("ResourceId")
	}
	type kv struct {
		k, v string
		hasV bool
	}
	var del []kv
	for _, i := range p.indices("Tag") {
		base := "Tag." + i
		k := p.get(base + ".Key")
		if k == "" {
			return missingParam(base + ".Key")
		}
		v, hasV := p.v[base+".Value"]
		d := kv{k: k, hasV: hasV}
		if hasV && len(v) > 0 {
			d.v = v[0]
		}
		del = append(del, d)
	}
	var targets []map[string]string
	for _, id := range ids {
		m, e := s.st.tagsOf(id)
		if e != nil {
			return e
		}
		targets = append(targets, m)
	}
	for _, m := range targets {
		if len(del) == 0 {
			clear(m)
		}
		for _, d := range del {
			if v, ok := m[d.k]; ok && (!d.hasV || v == d.v) {
				delete(m, d.k)
			}
		}
	}
	x.ret()
	return nil
}
