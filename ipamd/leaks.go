package ipamd

import (
	"context"
	"time"

	"github.com/enilab/enilab/ipamd/awsapi"
)

// cleanLeakedENIs deletes unattached ENIs ipamd created (description
// aws-K8S-, instance tag) that are older than LeakedENIMinAge: left by a
// crash between create and attach, or a failed delete. As upstream, one
// without a createdAt tag (an older CNI may be attaching it right now) is
// stamped with the current time and judged by a later scan.
func (m *poolManager) cleanLeakedENIs(ctx context.Context) {
	m.log.Debug("Checking for leaked AWS CNI ENIs.")
	enis, err := m.ec2.LeakedENIs(ctx, m.primary.VPCID, m.cfg.ClusterName)
	if err != nil {
		m.log.Warn("Unable to list leaked ENIs", "err", err)
		return
	}
	now := m.clock.Now()
	for _, e := range enis {
		ts, err := time.Parse(time.RFC3339, e.Tags[awsapi.TagCreatedAt])
		if err != nil {
			m.log.Debug("Leaked ENI has no usable createdAt tag; tagging it now", "eni", e.ID)
			if err := m.ec2.CreateTags(ctx, e.ID, map[string]string{awsapi.TagCreatedAt: now.UTC().Format(time.RFC3339)}); err != nil {
				m.log.Warn("cannot tag leaked ENI with its discovery time", "eni", e.ID, "err", err)
			}
			continue
		}
		if now.Sub(ts) < m.cfg.LeakedENIMinAge {
			m.log.Debug("Leaked ENI is too young to be cleaned up", "eni", e.ID, "createdAt", ts)
			continue
		}
		if err := m.ec2.DeleteENI(ctx, e.ID); err != nil {
			m.log.Warn("Failed to delete leaked ENI", "eni", e.ID, "err", err)
			continue
		}
		m.log.Info("Deleted leaked ENI", "eni", e.ID)
	}
}
