// Package awsapi is ipamd's only door to EC2 and IMDS: thin wrappers over
// aws-sdk-go-v2's EC2 client and feature/ec2/imds that return plain Go
// values, retry throttled and failed calls as the SDK's standard retryer
// decides but wait on the lab clock (the SDK's own retry middleware is off,
// since it sleeps in wall time), and report
// every call to an Observer for metrics. Endpoints come only from the SDK's
// standard settings, so the same code runs against EC2 or fakeec2.
package awsapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/enilab/enilab/internal/clock"
)

// Tag keys the upstream CNI puts on the ENIs it creates.
const (
	TagInstanceID = "node.k8s.amazonaws.com/instance_id"
	TagCreatedAt  = "node.k8s.amazonaws.com/createdAt"
	TagCluster    = "cluster.k8s.amazonaws.com/name"
	TagNoManage   = "node.k8s.amazonaws.com/no_manage"
	// TagOwner, with value OwnerVPCCNI, marks an ENI as the VPC CNI's when
	// CLUSTER_NAME is set (upstream's eniOwnerTagKey).
	TagOwner    = "eks:eni:owner"
	OwnerVPCCNI = "amazon-vpc-cni"
	// DescriptionPrefix starts the description of every ENI ipamd creates.
	DescriptionPrefix = "aws-K8S-"
)

// EC2 error codes ipamd reacts to.
const (
	CodeInsufficientFreeAddresses = "InsufficientFreeAddressesInSubnet"
	CodeInsufficientCidrBlocks    = "InsufficientCidrBlocks"
	CodePrivateIPLimitExceeded    = "PrivateIpAddressLimitExceeded"
	CodeRequestLimitExceeded      = "RequestLimitExceeded"
)

// Code returns the EC2 error code carried by err, "" when it has none.
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// IsSubnetExhausted reports whether err says the subnet has no room for the
// addresses or /28 prefixes asked for.
func IsSubnetExhausted(err error) bool {
	c := Code(err)
	return c == CodeInsufficientFreeAddresses || c == CodeInsufficientCidrBlocks
}

// IsNotFound reports whether err is an EC2 *.NotFound error.
func IsNotFound(err error) bool { return strings.HasSuffix(Code(err), ".NotFound") }

func isThrottle(code string) bool {
	switch code {
	case CodeRequestLimitExceeded, "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequestsException":
		return true
	}
	return false
}

// Observer is told about every EC2 operation, once with its retries (for
// awscni_* metrics).
type Observer interface {
	ObserveEC2(action string, latency time.Duration, err error)
}

// MaxAttempts is upstream's EC2 attempt budget (awssession.New sets
// config.WithRetryMaxAttempts(maxRetries), maxRetries = 10).
const MaxAttempts = 10

// Retry tunes the retryer; the zero value is upstream's.
type Retry struct {
	Attempts int // total attempts; default MaxAttempts
	// Rand is the jitter source, [0,1); default a PRNG with a fixed seed, so
	// that a lab run is repeatable where EC2's would draw from crypto/rand.
	Rand func() float64
}

// EC2 is the EC2 API as ipamd uses it.
type EC2 struct {
	api      *ec2.Client
	clock    clock.Clock
	log      *slog.Logger
	observer Observer
	retryer  *retry.Standard
}

// NewEC2 wraps an SDK client. The client's own retries should be off
// (aws.NopRetryer): EC2 asks the SDK's standard retryer (upstream's
// retry.NewStandard) which errors to retry, how long to back off (its
// exponential jitter) and whether its retry quota allows another attempt, and
// waits on clk, so that back-off follows the lab clock.
func NewEC2(api *ec2.Client, clk clock.Clock, log *slog.Logger, obs Observer, r Retry) *EC2 {
	return &EC2{api: api, clock: clk, log: log, observer: obs, retryer: newRetryer(r)}
}

// call runs fn as the SDK's retry middleware runs an operation: an attempt
// token first, then per retryable failure a retry token from the quota and
// a jittered back-off (on the lab clock). The observer hears of the
// operation once, retries included, as upstream's awsutils counts an SDK
// call.
func (c *EC2) call(ctx context.Context, action string, fn func(context.Context) error) (err error) {
	if c.observer != nil {
		start := c.clock.Now()
		defer func() { c.observer.ObserveEC2(action, c.clock.Now().Sub(start), err) }()
	}
	release := c.retryer.GetInitialToken()
	for attempt := 1; ; attempt++ {
		err = fn(ctx)
		_ = release(err)
		if err == nil {
			return nil
		}
		// Upstream's SDK retryer retries silently: a throttled attempt
		// is a debug line here, the operator's line is the caller's
		// failure (upstream's wording) once the retries are spent.
		if code := Code(err); isThrottle(code) {
			c.log.Debug("EC2 API call throttled", "action", action, "code", code, "attempt", attempt)
		}
		if ctx.Err() != nil || !c.retryer.IsErrorRetryable(err) || attempt >= c.retryer.MaxAttempts() {
			break
		}
		wait, derr := c.retryer.RetryDelay(attempt, err)
		if derr != nil {
			break
		}
		retryRelease, qerr := c.retryer.GetRetryToken(ctx, err)
		if qerr != nil {
			c.log.Debug("EC2 retry quota exhausted", "action", action, "err", qerr)
			break
		}
		c.log.Debug("retrying EC2 call", "action", action, "attempt", attempt, "wait", wait, "err", err)
		if serr := clock.Sleep(ctx, c.clock, wait); serr != nil {
			break
		}
		release = func(err error) error { _ = retryRelease(err); return nil }
	}
	return fmt.Errorf("%s: %w", action, err)
}

// InstanceLimits are an instance type's networking limits.
type InstanceLimits struct {
	MaxENIs            int // on the default network card
	IPv4PerENI         int // primary address included
	Hypervisor         string
	BareMetal          bool
	DefaultNetworkCard int
	VCPUs              int // default vCPUs; 0 = unknown
}

// SupportsPrefixes reports whether EC2 lets the type hold /28 prefixes.
func (l InstanceLimits) SupportsPrefixes() bool { return l.Hypervisor == "nitro" || l.BareMetal }

// DescribeInstanceType returns the limits of an instance type.
func (c *EC2) DescribeInstanceType(ctx context.Context, name string) (InstanceLimits, error) {
	var out *ec2.DescribeInstanceTypesOutput
	err := c.call(ctx, "DescribeInstanceTypes", func(ctx context.Context) (err error) {
		out, err = c.api.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{types.InstanceType(name)}})
		return err
	})
	if err != nil {
		return InstanceLimits{}, err
	}
	if len(out.InstanceTypes) == 0 || out.InstanceTypes[0].NetworkInfo == nil {
		return InstanceLimits{}, fmt.Errorf("DescribeInstanceTypes: no network info for %q", name)
	}
	it := out.InstanceTypes[0]
	ni := it.NetworkInfo
	l := InstanceLimits{
		MaxENIs:            int(aws.ToInt32(ni.MaximumNetworkInterfaces)),
		IPv4PerENI:         int(aws.ToInt32(ni.Ipv4AddressesPerInterface)),
		Hypervisor:         string(it.Hypervisor),
		BareMetal:          aws.ToBool(it.BareMetal),
		DefaultNetworkCard: int(aws.ToInt32(ni.DefaultNetworkCardIndex)),
	}
	if it.VCpuInfo != nil {
		l.VCPUs = int(aws.ToInt32(it.VCpuInfo.DefaultVCpus))
	}
	for _, card := range ni.NetworkCards {
		if int(aws.ToInt32(card.NetworkCardIndex)) == l.DefaultNetworkCard && card.MaximumNetworkInterfaces != nil {
			l.MaxENIs = int(aws.ToInt32(card.MaximumNetworkInterfaces))
		}
	}
	if l.MaxENIs < 1 || l.IPv4PerENI < 1 {
		return l, fmt.Errorf("DescribeInstanceTypes: %q reports %d ENIs × %d addresses", name, l.MaxENIs, l.IPv4PerENI)
	}
	return l, nil
}

// ENI is a network interface as DescribeNetworkInterfaces reports it.
type ENI struct {
	ID                  string
	MAC                 string
	SubnetID            string
	VPCID               string
	AZ                  string
	Description         string
	Status              string
	InstanceID          string
	AttachmentID        string
	DeviceIndex         int
	NetworkCard         int
	DeleteOnTermination bool
	PrimaryIP           netip.Addr
	SecondaryIPs        []netip.Addr
	Prefixes            []netip.Prefix
	SecurityGroups      []string
	Tags                map[string]string
	// InterfaceType is "interface", "trunk", "branch" or "efa".
	InterfaceType string
}

func fromSDK(n types.NetworkInterface) ENI {
	e := ENI{
		ID:            aws.ToString(n.NetworkInterfaceId),
		MAC:           aws.ToString(n.MacAddress),
		SubnetID:      aws.ToString(n.SubnetId),
		VPCID:         aws.ToString(n.VpcId),
		AZ:            aws.ToString(n.AvailabilityZone),
		Description:   aws.ToString(n.Description),
		Status:        string(n.Status),
		Tags:          map[string]string{},
		InterfaceType: string(n.InterfaceType),
	}
	if a := n.Attachment; a != nil {
		e.InstanceID = aws.ToString(a.InstanceId)
		e.AttachmentID = aws.ToString(a.AttachmentId)
		e.DeviceIndex = int(aws.ToInt32(a.DeviceIndex))
		e.NetworkCard = int(aws.ToInt32(a.NetworkCardIndex))
		e.DeleteOnTermination = aws.ToBool(a.DeleteOnTermination)
	}
	e.PrimaryIP, _ = netip.ParseAddr(aws.ToString(n.PrivateIpAddress))
	for _, p := range n.PrivateIpAddresses {
		ip, err := netip.ParseAddr(aws.ToString(p.PrivateIpAddress))
		if err != nil {
			continue
		}
		if aws.ToBool(p.Primary) {
			e.PrimaryIP = ip
			continue
		}
		e.SecondaryIPs = append(e.SecondaryIPs, ip)
	}
	for _, p := range n.Ipv4Prefixes {
		if pfx, err := netip.ParsePrefix(aws.ToString(p.Ipv4Prefix)); err == nil {
			e.Prefixes = append(e.Prefixes, pfx.Masked())
		}
	}
	for _, g := range n.Groups {
		e.SecurityGroups = append(e.SecurityGroups, aws.ToString(g.GroupId))
	}
	for _, t := range n.TagSet {
		e.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return e
}

func (c *EC2) describeENIs(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput) ([]ENI, error) {
	var all []ENI
	for {
		var out *ec2.DescribeNetworkInterfacesOutput
		err := c.call(ctx, "DescribeNetworkInterfaces", func(ctx context.Context) (err error) {
			out, err = c.api.DescribeNetworkInterfaces(ctx, in)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, n := range out.NetworkInterfaces {
			all = append(all, fromSDK(n))
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	return all, nil
}

// AttachedENIs returns every ENI attached to the instance, by card then
// device index.
func (c *EC2) AttachedENIs(ctx context.Context, instanceID string) ([]ENI, error) {
	enis, err := c.describeENIs(ctx, &ec2.DescribeNetworkInterfacesInput{
		Filters: []types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{instanceID}}},
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(enis, func(i, j int) bool {
		if enis[i].NetworkCard != enis[j].NetworkCard {
			return enis[i].NetworkCard < enis[j].NetworkCard
		}
		return enis[i].DeviceIndex < enis[j].DeviceIndex
	})
	return enis, nil
}

// DescribeENI returns one ENI.
func (c *EC2) DescribeENI(ctx context.Context, id string) (ENI, error) {
	enis, err := c.describeENIs(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{id}})
	if err != nil {
		return ENI{}, err
	}
	if len(enis) != 1 {
		return ENI{}, fmt.Errorf("DescribeNetworkInterfaces %s: %d results", id, len(enis))
	}
	return enis[0], nil
}

// LeakedENIs returns unattached ENIs of the VPC that carry ipamd's
// instance tag (and the cluster tag when cluster is set) and its
// description: candidates for the leak cleanup. The VPC bound keeps a node
// from judging ENIs of other VPCs in the same account.
func (c *EC2) LeakedENIs(ctx context.Context, vpcID, cluster string) ([]ENI, error) {
	filters := []types.Filter{
		{Name: aws.String("status"), Values: []string{"available"}},
		{Name: aws.String("tag-key"), Values: []string{TagInstanceID}},
	}
	if vpcID != "" {
		filters = append(filters, types.Filter{Name: aws.String("vpc-id"), Values: []string{vpcID}})
	}
	if cluster != "" {
		filters = append(filters, types.Filter{Name: aws.String("tag:" + TagCluster), Values: []string{cluster}})
	}
	enis, err := c.describeENIs(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: filters})
	if err != nil {
		return nil, err
	}
	out := enis[:0]
	for _, e := range enis {
		if strings.HasPrefix(e.Description, DescriptionPrefix) && e.Status == "available" {
			out = append(out, e)
		}
	}
	return out, nil
}

// Subnet tags that steer ENI placement (upstream's subnetDiscoveryTagKey and
// clusterTagKeyPrefix).
const (
	TagSubnetRoleCNI     = "kubernetes.io/role/cni"
	TagSubnetClusterPart = "cni.networking.k8s.aws/cluster/"
)

// Subnet is a subnet as DescribeSubnets reports it.
type Subnet struct {
	ID   string
	AZ   string
	VPC  string
	CIDR netip.Prefix
	Free int
	Tags map[string]string
}

// Subnets returns the subnets of a VPC, only those of availability zone az
// when az is set (upstream's GetVpcSubnets filters on both).
func (c *EC2) Subnets(ctx context.Context, vpcID, az string) ([]Subnet, error) {
	in := &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}}
	if az != "" {
		in.Filters = append(in.Filters, types.Filter{Name: aws.String("availability-zone"), Values: []string{az}})
	}
	var all []Subnet
	for {
		var out *ec2.DescribeSubnetsOutput
		err := c.call(ctx, "DescribeSubnets", func(ctx context.Context) (err error) {
			out, err = c.api.DescribeSubnets(ctx, in)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, s := range out.Subnets {
			sn := Subnet{
				ID: aws.ToString(s.SubnetId), AZ: aws.ToString(s.AvailabilityZone), VPC: aws.ToString(s.VpcId),
				Free: int(aws.ToInt32(s.AvailableIpAddressCount)), Tags: map[string]string{},
			}
			sn.CIDR, _ = netip.ParsePrefix(aws.ToString(s.CidrBlock))
			for _, t := range s.Tags {
				sn.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
			if (sn.VPC == "" || sn.VPC == vpcID) && (az == "" || sn.AZ == "" || sn.AZ == az) {
				all = append(all, sn)
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	return all, nil
}

// CreateSpec describes a new ENI.
type CreateSpec struct {
	SubnetID       string
	SecurityGroups []string
	Description    string
	Tags           map[string]string
	IPs            int // secondary addresses to assign at creation
	Prefixes       int // /28 prefixes to assign at creation
}

// CreateENI creates an ENI, tagged at creation so that a crash before it is
// attached leaves something the leak cleanup recognises.
func (c *EC2) CreateENI(ctx context.Context, s CreateSpec) (ENI, error) {
	in := &ec2.CreateNetworkInterfaceInput{
		SubnetId:    aws.String(s.SubnetID),
		Description: aws.String(s.Description),
		Groups:      s.SecurityGroups,
	}
	if s.IPs > 0 {
		in.SecondaryPrivateIpAddressCount = aws.Int32(int32(s.IPs))
	}
	if s.Prefixes > 0 {
		in.Ipv4PrefixCount = aws.Int32(int32(s.Prefixes))
	}
	if len(s.Tags) > 0 {
		var tags []types.Tag
		for _, k := range slices.Sorted(maps.Keys(s.Tags)) {
			tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(s.Tags[k])})
		}
		in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeNetworkInterface, Tags: tags}}
	}
	var out *ec2.CreateNetworkInterfaceOutput
	err := c.call(ctx, "CreateNetworkInterface", func(ctx context.Context) (err error) {
		out, err = c.api.CreateNetworkInterface(ctx, in)
		return err
	})
	if err != nil {
		return ENI{}, err
	}
	if out.NetworkInterface == nil {
		return ENI{}, errors.New("CreateNetworkInterface: empty reply")
	}
	return fromSDK(*out.NetworkInterface), nil
}

// AttachENI attaches an ENI at a device index of card 0 and returns the
// attachment id.
func (c *EC2) AttachENI(ctx context.Context, eniID, instanceID string, device int) (string, error) {
	var out *ec2.AttachNetworkInterfaceOutput
	err := c.call(ctx, "AttachNetworkInterface", func(ctx context.Context) (err error) {
		out, err = c.api.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{
			NetworkInterfaceId: aws.String(eniID), InstanceId: aws.String(instanceID), DeviceIndex: aws.Int32(int32(device)),
		})
		return err
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.AttachmentId), nil
}

// SetSecurityGroups replaces the ENI's security groups
// (ModifyNetworkInterfaceAttribute with Groups, as upstream's
// applySecurityGroupsToENIs).
func (c *EC2) SetSecurityGroups(ctx context.Context, eniID string, groups []string) error {
	return c.call(ctx, "ModifyNetworkInterfaceAttribute", func(ctx context.Context) error {
		_, err := c.api.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
			NetworkInterfaceId: aws.String(eniID), Groups: groups,
		})
		return err
	})
}

// SetDeleteOnTermination marks the attachment so that terminating the
// instance deletes the ENI.
func (c *EC2) SetDeleteOnTermination(ctx context.Context, eniID, attachmentID string) error {
	return c.call(ctx, "ModifyNetworkInterfaceAttribute", func(ctx context.Context) error {
		_, err := c.api.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
			NetworkInterfaceId: aws.String(eniID),
			Attachment:         &types.NetworkInterfaceAttachmentChanges{AttachmentId: aws.String(attachmentID), DeleteOnTermination: aws.Bool(true)},
		})
		return err
	})
}

// DetachENI detaches an ENI without Force, as upstream's freeENI does.
func (c *EC2) DetachENI(ctx context.Context, attachmentID string) error {
	return c.call(ctx, "DetachNetworkInterface", func(ctx context.Context) error {
		_, err := c.api.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(attachmentID)})
		return err
	})
}

// DeleteENI deletes an ENI; one that is already gone counts as deleted.
func (c *EC2) DeleteENI(ctx context.Context, eniID string) error {
	err := c.call(ctx, "DeleteNetworkInterface", func(ctx context.Context) error {
		_, err := c.api.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(eniID)})
		return err
	})
	if IsNotFound(err) {
		return nil
	}
	return err
}

// AssignIPs asks for n more secondary addresses on an ENI.
func (c *EC2) AssignIPs(ctx context.Context, eniID string, n int) ([]netip.Addr, error) {
	var out *ec2.AssignPrivateIpAddressesOutput
	err := c.call(ctx, "AssignPrivateIpAddresses", func(ctx context.Context) (err error) {
		out, err = c.api.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{
			NetworkInterfaceId: aws.String(eniID), SecondaryPrivateIpAddressCount: aws.Int32(int32(n)),
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	for _, a := range out.AssignedPrivateIpAddresses {
		if ip, err := netip.ParseAddr(aws.ToString(a.PrivateIpAddress)); err == nil {
			ips = append(ips, ip)
		}
	}
	return ips, nil
}

// AssignPrefixes asks for n more /28 prefixes on an ENI.
func (c *EC2) AssignPrefixes(ctx context.Context, eniID string, n int) ([]netip.Prefix, error) {
	var out *ec2.AssignPrivateIpAddressesOutput
	err := c.call(ctx, "AssignPrivateIpAddresses", func(ctx context.Context) (err error) {
		out, err = c.api.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{
			NetworkInterfaceId: aws.String(eniID), Ipv4PrefixCount: aws.Int32(int32(n)),
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	var ps []netip.Prefix
	for _, a := range out.AssignedIpv4Prefixes {
		if p, err := netip.ParsePrefix(aws.ToString(a.Ipv4Prefix)); err == nil {
			ps = append(ps, p.Masked())
		}
	}
	return ps, nil
}

// Unassign returns addresses and prefixes of an ENI to the subnet.
func (c *EC2) Unassign(ctx context.Context, eniID string, ips []netip.Addr, prefixes []netip.Prefix) error {
	if len(ips) == 0 && len(prefixes) == 0 {
		return nil
	}
	in := &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(eniID)}
	for _, ip := range ips {
		in.PrivateIpAddresses = append(in.PrivateIpAddresses, ip.String())
	}
	for _, p := range prefixes {
		in.Ipv4Prefixes = append(in.Ipv4Prefixes, p.String())
	}
	return c.call(ctx, "UnassignPrivateIpAddresses", func(ctx context.Context) error {
		_, err := c.api.UnassignPrivateIpAddresses(ctx, in)
		return err
	})
}

// CreateTags tags a resource.
func (c *EC2) CreateTags(ctx context.Context, id string, tags map[string]string) error {
	in := &ec2.CreateTagsInput{Resources: []string{id}}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return c.call(ctx, "CreateTags", func(ctx context.Context) error {
		_, err := c.api.CreateTags(ctx, in)
		return err
	})
}

// maxDeviceIndexes is upstream's maxENIs: the device slots looked at per
// network card.
const maxDeviceIndexes = 128

// FreeDeviceIndex returns the lowest device index no attached ENI of the
// network card uses, from DescribeInstances (upstream's
// awsGetFreeDeviceNumber).
func (c *EC2) FreeDeviceIndex(ctx context.Context, instanceID string, networkCard int) (int, error) {
	var out *ec2.DescribeInstancesOutput
	err := c.call(ctx, "DescribeInstances", func(ctx context.Context) (err error) {
		out, err = c.api.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("find a free device number for ENI: not able to retrieve instance data from EC2 control plane: %w", err)
	}
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) == 0 {
		return 0, fmt.Errorf("awsGetFreeDeviceNumber: invalid instance id %s", instanceID)
	}
	var used [maxDeviceIndexes]bool
	for _, n := range out.Reservations[0].Instances[0].NetworkInterfaces {
		a := n.Attachment
		if a == nil || int(aws.ToInt32(a.NetworkCardIndex)) != networkCard {
			continue
		}
		if d := int(aws.ToInt32(a.DeviceIndex)); d >= 0 && d < maxDeviceIndexes {
			used[d] = true
		}
	}
	for i, u := range used {
		if !u {
			return i, nil
		}
	}
	return 0, fmt.Errorf("awsGetFreeDeviceNumber: no available device number for network card %d", networkCard)
}

// IsTrunk says whether the ENI is a trunk ENI (the VPC resource
// controller's, for security groups for pods): ipamd keeps it out of the
// pool (upstream's setupENI with isTrunkENI, which adds no addresses).
func (e ENI) IsTrunk() bool { return e.InterfaceType == "trunk" }
