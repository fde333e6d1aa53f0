// Package fakeec2 is an in-process EC2 Query API and IMDSv2 server for the
// ENI and IPv4 actions the VPC CNI uses. Unlike protocol-only fakes it says
// no exactly where EC2 does: instance ENI and address limits from package
// limits, subnet exhaustion with the five reserved addresses, /28 prefix
// alignment and CIDR reservations. Real clients (aws-sdk-go-v2, the AWS
// CLI) talk to it unmodified; labs also drive it through a Go API with the
// same rules and receive change events through Watch. Throttling, faults,
// latency and tracing plug in through Config.Interceptor (package
// fakeec2/chaos), so the state model stays free of them.
//
// Wire actions (API version 2016-11-15, POST form or GET query): CreateVpc,
// DescribeVpcs, AssociateVpcCidrBlock, DeleteVpc, CreateSubnet,
// DescribeSubnets, DeleteSubnet, CreateSubnetCidrReservation,
// GetSubnetCidrReservations, DeleteSubnetCidrReservation,
// CreateSecurityGroup, DescribeSecurityGroups, DeleteSecurityGroup,
// RunInstances, TerminateInstances, DescribeInstances, DescribeInstanceTypes,
// DescribeAvailabilityZones, CreateNetworkInterface, DeleteNetworkInterface,
// AttachNetworkInterface, DetachNetworkInterface, DescribeNetworkInterfaces,
// DescribeNetworkInterfaceAttribute, ModifyNetworkInterfaceAttribute,
// AssignPrivateIpAddresses, UnassignPrivateIpAddresses, CreateTags and
// DeleteTags (see Actions). Every Describe takes every filter EC2 documents
// for it (ec2filters.json, from botocore's model), with EC2's matching
// rules; ids that break EC2's syntax answer *.Malformed, well-formed unknown
// ones *.NotFound; wire-launched instances are pending, then running, and
// terminated ones shutting-down, on the lab clock (Config.InstancePending,
// Config.InstanceShutdown).
//
// Where EC2's behaviour is unpublished the fake picks what a client can
// rely on: addresses are drawn at a seeded random offset (never from a CIDR
// reservation); prefixes come from prefix reservations first, then from
// unreserved space; a prefix request that cannot be met answers
// InsufficientCidrBlocks while the subnet has any free address and
// InsufficientFreeAddressesInSubnet once it has none; changes apply at once
// (attachments are "attached", not "attaching") except as Config.IMDSLag
// and Config.DescribeLag delay their visibility; terminated instances stay
// visible to DescribeInstances, like on EC2, but not to Server.Instance; a
// filter on state the fake does not keep (public addresses, IPv6, rules of
// groups) matches nothing.
package fakeec2
