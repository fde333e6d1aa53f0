package scenario

import (
	"net/netip"
)

// Comparison is one variant's figures side by side with the others' (what
// `enilab compare` tabulates): what its warm pools hold, what they take
// from the subnets, what they cost in EC2 calls and in pod start latency.
type Comparison struct {
	Variant string
	Passed  bool
	// IPsPerNode and WarmPerNode are the mean over nodes of the final
	// figures (addresses held by ipamd, and of those not assigned to pods).
	IPsPerNode, WarmPerNode float64
	// SubnetUsed is what the subnets gave out: their usable addresses (the
	// CIDR less EC2's 5 reserved) less the free ones at the end.
	SubnetUsed int
	EC2Calls   int
	Throttled  int
	Ready      Percentiles
	// FailedSteps counts the steps that did not succeed.
	FailedSteps int
}

// Compare reads a variant's figures from its report.
func Compare(variant string, rep *Report) Comparison {
	c := Comparison{Variant: variant, Passed: rep.Passed, Throttled: rep.EC2.Throttled, Ready: rep.Pods.ReadyLatencyMs}
	for _, n := range rep.Nodes {
		c.IPsPerNode += float64(n.TotalIPs)
		c.WarmPerNode += float64(n.WarmIPs)
	}
	if len(rep.Nodes) > 0 {
		c.IPsPerNode /= float64(len(rep.Nodes))
		c.WarmPerNode /= float64(len(rep.Nodes))
	}
	for _, s := range rep.Subnets {
		if p, err := netip.ParsePrefix(s.CIDR); err == nil && p.Addr().Is4() {
			c.SubnetUsed += 1<<(32-p.Bits()) - 5 - s.Free
		}
	}
	for _, n := range rep.EC2.Calls {
		c.EC2Calls += n
	}
	for _, s := range rep.Steps {
		if !s.OK {
			c.FailedSteps++
		}
	}
	return c
}
