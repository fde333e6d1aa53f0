package netsetup

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/enilab/enilab/internal/datapath"
)

// DefaultMTU is used when ENI.MTU is zero (upstream AWS_VPC_ENI_MTU).
const DefaultMTU = 9001

// DefaultLinkWait is used when ENI.LinkWait is zero.
const DefaultLinkWait = 5 * time.Second

// ENI describes one attached ENI as ipamd learned it from IMDS.
type ENI struct {
	MAC          string       // link's hardware address, e.g. "02:1f:…"
	PrimaryIP    netip.Addr   // the ENI's primary private IPv4 address
	SubnetCIDR   netip.Prefix // the ENI's subnet; its base + 1 is the gateway
	DeviceNumber int          // device index; 0 is the primary ENI, never set up here
	MTU          int          // 0 = DefaultMTU
	// LinkWait is how long SetupENI keeps looking for the ENI's link before
	// giving up: the instance's hot-plug may lag the attachment IMDS already
	// reports. 0 = DefaultLinkWait.
	LinkWait time.Duration
}

// Table is the route table of the ENI's device (datapath.ENITable), so a
// pod rule can name it from DeviceNumber alone. Only secondary ENIs
// (device ≥ 1) are set up here, whose table is device number + 1.
func (e ENI) Table() int { return datapath.ENITable(e.DeviceNumber) }

// Gateway is the subnet's router address (base + 1), the VPC's first host.
func (e ENI) Gateway() netip.Addr { return e.SubnetCIDR.Masked().Addr().Next() }

// Validate reports every problem with e at once.
func (e ENI) Validate() error {
	var errs []error
	if _, err := net.ParseMAC(e.MAC); err != nil {
		errs = append(errs, fmt.Errorf("MAC %q is not a hardware address", e.MAC))
	}
	if !e.PrimaryIP.Is4() {
		errs = append(errs, fmt.Errorf("primary IP %v is not an IPv4 address", e.PrimaryIP))
	}
	switch {
	case !e.SubnetCIDR.IsValid() || !e.SubnetCIDR.Addr().Is4():
		errs = append(errs, fmt.Errorf("subnet CIDR %v is not an IPv4 prefix", e.SubnetCIDR))
	case e.SubnetCIDR.Bits() > 28:
		errs = append(errs, fmt.Errorf("subnet CIDR %v is smaller than a VPC subnet can be (/28)", e.SubnetCIDR))
	case e.PrimaryIP.IsValid() && !e.SubnetCIDR.Contains(e.PrimaryIP):
		errs = append(errs, fmt.Errorf("primary IP %v is outside subnet %v", e.PrimaryIP, e.SubnetCIDR))
	}
	if e.DeviceNumber < 1 {
		errs = append(errs, fmt.Errorf("device number %d: only secondary ENIs (device ≥ 1) are set up by ipamd; the primary ENI belongs to the instance", e.DeviceNumber))
	}
	if e.MTU != 0 && (e.MTU < 576 || e.MTU > 9001) {
		errs = append(errs, fmt.Errorf("MTU %d is outside 576..9001", e.MTU))
	}
	return errors.Join(errs...)
}

func (e ENI) mtu() int {
	if e.MTU == 0 {
		return DefaultMTU
	}
	return e.MTU
}

func (e ENI) linkWait() time.Duration {
	if e.LinkWait == 0 {
		return DefaultLinkWait
	}
	return e.LinkWait
}
