package ipamd

import (
	"context"
	"fmt"
	"hash/fnv"
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
		m.log.Warn(fmt.Sprintf("Unable to get leaked ENIs: %v", err))
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
			m.metrics.ipamdError("cleanUpLeakedENIDeleteErr")
			m.log.Warn(fmt.Sprintf("Failed to clean up leaked ENI %s: %v", e.ID, err))
			continue
		}
		m.log.Debug(fmt.Sprintf("Cleaned up leaked CNI ENI %s", e.ID))
	}
}

// leakScanDelayMax bounds the random wait before each leak scan (upstream's
// eniCleanupStartupDelayMax, 300 s).
const leakScanDelayMax = 300

// leakScanDelay is the wait before the n-th leak scan (0 = the first, after
// start-up; later ones wait LeakScanPeriod plus this). Upstream's
// cleanUpLeakedENIs sleeps rand.Intn(300) s before every scan, which
// wait.Forever repeats an hour after the last one ended; enilab draws the
// same 0–299 s from a hash of the instance id and n, so a lab run with the
// same seed (same instance ids) scans at the same times.
func leakScanDelay(instanceID string, n int) time.Duration {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", instanceID, n)
	return time.Duration(h.Sum64()%leakScanDelayMax) * time.Second
}

// nextLeakScan is the wait before the next scan, logged as upstream logs it.
func (d *Daemon) nextLeakScan(n int) time.Duration {
	delay := leakScanDelay(d.identity.InstanceID, n)
	if !d.cfg.DisableLeakedENICleanup {
		d.log.Info(fmt.Sprintf("Will attempt to clean up AWS CNI leaked ENIs after waiting %s.", delay))
	}
	if n == 0 {
		return delay
	}
	return d.cfg.LeakScanPeriod + delay
}
