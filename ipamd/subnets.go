package ipamd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/enilab/enilab/ipamd/awsapi"
)

// Errors of ENI placement, worded as upstream's createENI words them.
var (
	errNoValidSubnet          = errors.New("no valid subnets available for ENI creation - all subnets are either not tagged or tagged with kubernetes.io/role/cni=0")
	errPrimaryExcluded        = errors.New("primary subnet is tagged with kubernetes.io/role/cni=0 - no valid subnets available for ENI creation")
	errPrimaryExcludedNoDisco = errors.New("primary subnet is tagged with kubernetes.io/role/cni=0 and subnet discovery is disabled - no valid subnets available for ENI creation")
)

// subnetValidForENI is upstream's isSubnetValidForENICreation: role/cni=0
// excludes any subnet; without the tag only the primary ENI's subnet is
// valid; with it, cluster tags, when present, must name CLUSTER_NAME.
func subnetValidForENI(s awsapi.Subnet, primary bool, cluster string) bool {
	role := s.Tags[awsapi.TagSubnetRoleCNI]
	switch {
	case role == "0":
		return false
	case role == "":
		return primary
	}
	return subnetForCluster(s, cluster)
}

// subnetExcluded is upstream's IsSubnetExcluded for one subnet: excluded
// by role/cni=0, or tagged role/cni and owned by another cluster.
func subnetExcluded(s awsapi.Subnet, cluster string) bool {
	switch role := s.Tags[awsapi.TagSubnetRoleCNI]; role {
	case "":
		return false
	case "0":
		return true
	}
	return !subnetForCluster(s, cluster)
}

// subnetForCluster is upstream's ValidSubnetTagsMatchingClusterName: with
// CLUSTER_NAME unset every subnet matches; else a subnet with
// cni.networking.k8s.aws/cluster/* tags must carry this cluster's.
func subnetForCluster(s awsapi.Subnet, cluster string) bool {
	if cluster == "" {
		return true
	}
	tagged := false
	for k := range s.Tags {
		if strings.HasPrefix(k, awsapi.TagSubnetClusterPart) {
			tagged = true
			if k == awsapi.TagSubnetClusterPart+cluster {
				return true
			}
		}
	}
	return !tagged
}

// sortByFree orders subnets by free addresses, most first, keeping EC2's
// order among equals (upstream's GetVpcSubnets).
func sortByFree(subnets []awsapi.Subnet) {
	slices.SortStableFunc(subnets, func(a, b awsapi.Subnet) int { return cmp.Compare(b.Free, a.Free) })
}

// vpcSubnets lists the subnets of the node's VPC and zone, most free
// first, caching their CIDRs.
func (m *poolManager) vpcSubnets(ctx context.Context) ([]awsapi.Subnet, error) {
	subnets, err := m.ec2.Subnets(ctx, m.primary.VPCID, m.identity.AZ)
	if err != nil {
		return nil, err
	}
	for _, s := range subnets {
		if s.CIDR.IsValid() {
			m.subnetCIDRs[s.ID] = s.CIDR
		}
	}
	sortByFree(subnets)
	return subnets, nil
}

// isSubnetExcluded is upstream's IsSubnetExcluded: a subnet it cannot find
// in the node's VPC and zone is not excluded.
func (m *poolManager) isSubnetExcluded(ctx context.Context, id string) (bool, error) {
	subnets, err := m.vpcSubnets(ctx)
	if err != nil {
		return false, fmt.Errorf("failed to get VPC subnets: %w", err)
	}
	for _, s := range subnets {
		if s.ID == id {
			return subnetExcluded(s, m.cfg.ClusterName), nil
		}
	}
	m.log.Warn(fmt.Sprintf("IsSubnetExcluded: subnet %s not found in VPC, treating as not excluded", id))
	return false, nil
}

// eniSubnets returns the subnets to try for a new ENI, in order, and the
// security groups to give it (upstream's createENI and
// createENIUsingCustomCfg). The ENIConfig is read again for every ENI.
func (m *poolManager) eniSubnets(ctx context.Context) ([]string, []string, error) {
	sgs := m.securityGroups
	if m.cfg.CustomNetworking {
		c, err := m.nodeENIConfig()
		if err != nil {
			return nil, nil, err
		}
		m.log.Info("Using a custom network config for the new ENI")
		if len(c.SecurityGroups) > 0 {
			sgs = c.SecurityGroups
		} else {
			m.log.Warn(fmt.Sprintf("No custom networking security group found, will use the node's primary ENI's SG: %v", sgs))
		}
		return []string{c.Subnet}, sgs, nil
	}
	if !m.cfg.EnableSubnetDiscovery {
		excluded, err := m.isSubnetExcluded(ctx, m.primary.SubnetID)
		if err != nil {
			m.log.Warn(fmt.Sprintf("Failed to check if primary subnet is excluded: %v. Proceeding with ENI creation attempt.", err))
		} else if excluded {
			return nil, nil, errPrimaryExcludedNoDisco
		}
		return []string{m.primary.SubnetID}, sgs, nil
	}
	subnets, err := m.vpcSubnets(ctx)
	if err != nil {
		m.log.Warn(fmt.Sprintf("Failed to call ec2:DescribeSubnets: %v", err))
		m.log.Info("Defaulting to same subnet as the primary interface for the new ENI")
		excluded, err := m.isSubnetExcluded(ctx, m.primary.SubnetID)
		if err != nil {
			return nil, nil, fmt.Errorf("Failed to check if primary subnet is excluded: %w. Quit ENI creation attempt.", err) //nolint:staticcheck // upstream's wording
		}
		if excluded {
			return nil, nil, errPrimaryExcluded
		}
		return []string{m.primary.SubnetID}, sgs, nil
	}
	var ids []string
	for _, s := range subnets {
		primary := s.ID == m.primary.SubnetID
		if !subnetValidForENI(s, primary, m.cfg.ClusterName) {
			if primary {
				m.log.Info(fmt.Sprintf("Primary subnet %s is excluded from ENI creation", s.ID))
			}
			continue
		}
		ids = append(ids, s.ID)
	}
	if len(ids) == 0 {
		return nil, nil, errNoValidSubnet
	}
	return ids, sgs, nil
}

// markIfExcluded marks an ENI in an excluded subnet as giving no pod
// addresses (upstream's excludedENIBasedOnSubnetTags, with subnet
// discovery on), the primary ENI included.
func (m *poolManager) markIfExcluded(ctx context.Context, id, subnetID string, primary bool) bool {
	if !m.cfg.EnableSubnetDiscovery {
		return false
	}
	excluded, err := m.isSubnetExcluded(ctx, subnetID)
	if err != nil {
		m.log.Warn(fmt.Sprintf("setupENI: failed to check subnet exclusion for ENI %s (subnet %s): %v", id, subnetID, err))
		return false
	}
	if !excluded {
		delete(m.excluded, id)
		return false
	}
	kind := "secondary"
	if primary {
		kind = "primary"
	}
	m.log.Info(fmt.Sprintf("Marking %s ENI %s as excluded from pod IP allocation (in excluded subnet %s)", kind, id, subnetID))
	m.excluded[id] = true
	return true
}

// cleanupExcludedENIs gives back the unassigned addresses and prefixes of
// excluded ENIs (upstream's checkAndHandleAllENIExclusion at node init).
func (m *poolManager) cleanupExcludedENIs(ctx context.Context) {
	now := m.clock.Now()
	for _, e := range m.store.ENIs(now) {
		if !m.excluded[e.ID] {
			continue
		}
		kind := "secondary"
		if e.Primary {
			kind = "primary"
		}
		m.log.Info(fmt.Sprintf("checkAndHandleAllENIExclusion: cleaning up unassigned resources from excluded %s ENI %s", kind, e.ID))
		m.giveBackFree(ctx, e.ID)
		m.log.Info(fmt.Sprintf("Completed cleanup of unassigned resources from excluded ENI %s", e.ID))
	}
}

// giveBackFree returns every unassigned CIDR of an ENI to EC2.
func (m *poolManager) giveBackFree(ctx context.Context, eniID string) {
	now := m.clock.Now()
	var ips []netip.Addr
	var prefixes []netip.Prefix
	for _, c := range m.store.FreeableCIDRs(eniID, now) {
		if _, err := m.store.RemoveCIDR(eniID, c, false, now); err != nil {
			continue
		}
		if c.Bits() == 32 {
			ips = append(ips, c.Addr())
		} else {
			prefixes = append(prefixes, c)
		}
		m.recentlyFreed[c.String()] = now
	}
	if err := m.ec2.Unassign(ctx, eniID, ips, prefixes); err != nil {
		m.log.Warn("cannot give back the addresses of an excluded ENI", "eni", eniID, "err", err)
	}
}
