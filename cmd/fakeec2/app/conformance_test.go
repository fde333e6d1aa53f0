package app_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The AWS CLI against fakeec2 as against EC2: filters EC2 documents, the
// Malformed codes of its id syntax, and its zone checks (issue 20).
func TestAWSCLIConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the AWS CLI test (each CLI start takes about a second)")
	}
	url := start(t, "--seed", "7", "--throttle", "none")
	c := newCLI(t, url)

	vpc := dig(c.ok("create-vpc", "--cidr-block", "10.0.0.0/16"), "Vpc", "VpcId").(string)
	subA := dig(c.ok("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.0.0.0/24", "--availability-zone", "us-west-2a"), "Subnet", "SubnetId").(string)
	subB := dig(c.ok("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.0.1.0/24", "--availability-zone", "us-west-2b"), "Subnet", "SubnetId").(string)
	run := c.ok("run-instances", "--image-id", "ami-0123456789abcdef0", "--instance-type", "m6g.large", "--count", "2", "--subnet-id", subA)
	assert.Equal(t, "arm64", dig(run, "Instances", 0, "Architecture"))
	assert.EqualValues(t, 1, dig(run, "Instances", 1, "AmiLaunchIndex"))
	c.ok("run-instances", "--instance-type", "m5.large", "--count", "1", "--subnet-id", subB)
	eni := dig(run, "Instances", 0, "NetworkInterfaces", 0, "NetworkInterfaceId").(string)
	c.ok("assign-private-ip-addresses", "--network-interface-id", eni, "--secondary-private-ip-address-count", "2")

	d := c.ok("describe-instances", "--filters", "Name=network-interface.subnet-id,Values="+subA)
	assert.Len(t, dig(d, "Reservations", 0, "Instances"), 2, "both instances of the launch in subnet A")
	assert.Len(t, dig(d, "Reservations"), 1, "the m5.large in subnet B is filtered out")
	n := c.ok("describe-network-interfaces", "--filters", "Name=addresses.primary,Values=false")
	assert.Len(t, dig(n, "NetworkInterfaces"), 1, "only the ENI with secondaries has a non-primary address")
	assert.Equal(t, eni, dig(n, "NetworkInterfaces", 0, "NetworkInterfaceId"))
	z := c.ok("describe-availability-zones", "--zone-names", "us-west-2b")
	assert.Len(t, dig(z, "AvailabilityZones"), 1)
	assert.Equal(t, "usw2-az2", dig(z, "AvailabilityZones", 0, "ZoneId"))

	checks := [][]string{
		{"InvalidParameterValue", "describe-availability-zones", "--zone-names", "us-west-2z"},
		{"InvalidParameterValue", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.0.9.0/24", "--availability-zone", "us-west-2z"},
		{"InvalidNetworkInterfaceId.Malformed", "describe-network-interfaces", "--network-interface-ids", "eni-xyz"},
		{"InvalidInstanceID.Malformed", "describe-instances", "--instance-ids", "i-zz"},
		{"InvalidSubnetID.Malformed", "describe-subnets", "--subnet-ids", "subnet-zz"},
		{"InvalidVpcID.Malformed", "describe-vpcs", "--vpc-ids", "vpc-zz"},
		{"InvalidGroupId.Malformed", "describe-security-groups", "--group-ids", "sg-zz"},
		{"InvalidAMIID.Malformed", "run-instances", "--image-id", "ami-zz", "--instance-type", "m5.large", "--count", "1", "--subnet-id", subA},
		{"InvalidNetworkInterfaceAttachmentId.Malformed", "detach-network-interface", "--attachment-id", "foo"},
	}
	var wg sync.WaitGroup
	for _, ch := range checks {
		wg.Go(func() { c.fails(ch[0], ch[1:]...) })
	}
	wg.Wait()
}
