package awsapi

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// IPv6Prefixes returns the IPv6 prefixes EC2 has on the ENI (upstream's
// GetIPv6PrefixesFromEC2, read once at start-up rather than from IMDS).
func (c *EC2) IPv6Prefixes(ctx context.Context, eniID string) ([]netip.Prefix, error) {
	var out *ec2.DescribeNetworkInterfacesOutput
	err := c.call(ctx, "DescribeNetworkInterfaces", func(ctx context.Context) (err error) {
		out, err = c.api.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eniID}})
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(out.NetworkInterfaces) != 1 {
		return nil, fmt.Errorf("DescribeNetworkInterfaces %s: %d results", eniID, len(out.NetworkInterfaces))
	}
	var ps []netip.Prefix
	for _, p := range out.NetworkInterfaces[0].Ipv6Prefixes {
		if pfx, err := netip.ParsePrefix(aws.ToString(p.Ipv6Prefix)); err == nil {
			ps = append(ps, pfx.Masked())
		}
	}
	return ps, nil
}

// AssignIPv6Prefix asks EC2 for one IPv6 prefix on the ENI (upstream's
// AllocIPv6Prefixes: AssignIpv6Addresses with Ipv6PrefixCount 1).
func (c *EC2) AssignIPv6Prefix(ctx context.Context, eniID string) ([]netip.Prefix, error) {
	var out *ec2.AssignIpv6AddressesOutput
	err := c.call(ctx, "AssignIpv6Addresses", func(ctx context.Context) (err error) {
		out, err = c.api.AssignIpv6Addresses(ctx, &ec2.AssignIpv6AddressesInput{
			NetworkInterfaceId: aws.String(eniID), Ipv6PrefixCount: aws.Int32(1),
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("allocate IPv6 prefix: failed to allocate an IPv6 prefix address: %w", err)
	}
	var ps []netip.Prefix
	for _, s := range out.AssignedIpv6Prefixes {
		if p, err := netip.ParsePrefix(s); err == nil {
			ps = append(ps, p.Masked())
		}
	}
	return ps, nil
}
