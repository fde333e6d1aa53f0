package netsetup

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/datapath/kernel"
	"github.com/enilab/enilab/internal/nsutil"
)

// SetupHost does the node-wide part: the rule `fwmark 0x80/0x80 lookup main`
// at priority 1024 (kernel.FwmarkRule), which keeps connections marked as
// having arrived through the primary ENI answering through it. The lab has
// no egress beyond the VPC, so the SNAT and connmark iptables rules of
// upstream are not modelled; vpcCIDRs and externalSNAT are validated and
// otherwise unused. Idempotent.
func SetupHost(nsPath string, vpcCIDRs []netip.Prefix, primaryIP netip.Addr, externalSNAT bool) error {
	var errs []error
	if !primaryIP.Is4() {
		errs = append(errs, fmt.Errorf("primary IP %v is not an IPv4 address", primaryIP))
	}
	for _, c := range vpcCIDRs {
		if !c.IsValid() || !c.Addr().Is4() {
			errs = append(errs, fmt.Errorf("VPC CIDR %v is not an IPv4 prefix", c))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("netsetup: host setup: %w", err)
	}
	_ = externalSNAT
	h, err := nsutil.Handle(nsPath)
	if err != nil {
		return fmt.Errorf("netsetup: %w", err)
	}
	defer h.Close()
	if err := ensureRule(h, kernel.FwmarkRule()); err != nil {
		return fmt.Errorf("netsetup: host rule fwmark %#x/%#x lookup main: %w", datapath.ConnMark, datapath.ConnMark, err)
	}
	return nil
}
