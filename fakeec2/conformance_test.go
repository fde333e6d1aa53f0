package fakeec2_test

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// model is fakeec2/ec2filters.json: what botocore's EC2 service model
// documents for the Describe actions the fake serves.
type model struct {
	Botocore string
	Filters  map[string][]string
	Elements map[string][]string
}

func loadModel(t *testing.T) model {
	t.Helper()
	b, err := os.ReadFile("ec2filters.json")
	require.NoError(t, err)
	var m model
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// The copy of the model's lists is the model's: regenerated from the
// botocore on this machine (Debian's python3-botocore, which scripts/setup.sh
// installs with awscli), it must not differ.
func TestFilterListsMatchBotocore(t *testing.T) {
	if err := exec.Command("python3", "-c", "import botocore").Run(); err != nil {
		t.Skip("python3 with botocore not installed (scripts/setup.sh installs python3-botocore)")
	}
	out, err := exec.Command("python3", "testdata/ec2filters.py").Output()
	require.NoError(t, err)
	var got model
	require.NoError(t, json.Unmarshal(out, &got))
	want := loadModel(t)
	if got.Botocore != want.Botocore {
		t.Logf("botocore %s here, ec2filters.json from %s", got.Botocore, want.Botocore)
	}
	for action, names := range got.Filters {
		assert.Subset(t, want.Filters[action], names, "%s: filters botocore %s documents are missing from ec2filters.json (go generate ./fakeec2/)", action, got.Botocore)
	}
}

// query sends one EC2 Query request and returns the HTTP status and body.
func query(t *testing.T, e *env, action string, v url.Values) (int, string) {
	t.Helper()
	v.Set("Action", action)
	v.Set("Version", "2016-11-15")
	resp, body := post(t, e.url, v.Encode())
	return resp.StatusCode, body
}

// Every filter EC2 documents for every served Describe action is taken,
// values with wildcards included, and an unknown name is refused, as EC2
// refuses it.
func TestEveryDocumentedFilterIsServed(t *testing.T) {
	l := newLab(t, "m5.large")
	m := loadModel(t)
	for action, names := range m.Filters {
		for _, name := range append(names, "tag:team", "tag-key") {
			v := url.Values{"Filter.1.Name": {name}, "Filter.1.Value.1": {"*"}, "Filter.1.Value.2": {"x?z"}}
			if action == "GetSubnetCidrReservations" {
				v.Set("SubnetId", l.sub.ID)
			}
			status, body := query(t, l.env, action, v)
			assert.Equal(t, 200, status, "%s filter %s: %s", action, name, body)
		}
		v := url.Values{"Filter.1.Name": {"no-such-filter"}, "Filter.1.Value.1": {"x"}, "SubnetId": {l.sub.ID}}
		status, body := query(t, l.env, action, v)
		assert.Equal(t, 400, status, action)
		assert.Contains(t, body, "<Code>InvalidParameterValue</Code>", action)
	}
}

// Filters follow EC2's rules: * and ? wildcards, several values OR, several
// filters AND, tag:KEY and tag-key.
func TestFilterMatchingRules(t *testing.T) {
	l := newLab(t, "m5.large")
	_, err := l.ec2.CreateTags(l.ctx, &ec2.CreateTagsInput{Resources: []string{l.inst.ID}, Tags: []ec2types.Tag{{Key: aws.String("team"), Value: aws.String("net-ops")}}})
	require.NoError(t, err)
	count := func(fs ...ec2types.Filter) int {
		out, err := l.ec2.DescribeInstances(l.ctx, &ec2.DescribeInstancesInput{Filters: fs})
		require.NoError(t, err)
		return len(out.Reservations)
	}
	f := func(name string, values ...string) ec2types.Filter {
		return ec2types.Filter{Name: aws.String(name), Values: values}
	}
	assert.Equal(t, 1, count(f("instance-type", "m5.*")))
	assert.Equal(t, 1, count(f("instance-type", "m?.large")))
	assert.Equal(t, 0, count(f("instance-type", "m?.xlarge")))
	assert.Equal(t, 1, count(f("instance-type", "c5.large", "m5.large")), "values OR")
	assert.Equal(t, 0, count(f("instance-type", "m5.large"), f("architecture", "arm64")), "filters AND")
	assert.Equal(t, 1, count(f("instance-type", "m5.large"), f("architecture", "x86_64")))
	assert.Equal(t, 1, count(f("tag:team", "net-*")))
	assert.Equal(t, 0, count(f("tag:team", "db")))
	assert.Equal(t, 1, count(f("tag-key", "team")))
	assert.Equal(t, 1, count(f("network-interface.subnet-id", l.sub.ID)))
	assert.Equal(t, 1, count(f("hypervisor", "xen")), "the model's enum is xen|ovm")
	assert.Equal(t, 1, count(f("block-device-mapping.volume-id", "vol-*")), "the root volume")
	assert.Equal(t, 0, count(f("network-interface.association.public-ip", "*")), "no public address: matches nothing")
}

// Ids that break EC2's syntax are *.Malformed on every action that takes
// them; well-formed unknown ids are *.NotFound.
func TestMalformedIDs(t *testing.T) {
	l := newLab(t, "m5.large")
	cases := []struct {
		action, param, id, code string
	}{
		{"DescribeNetworkInterfaces", "NetworkInterfaceId.1", "eni-xyz", "InvalidNetworkInterfaceId.Malformed"},
		{"DescribeNetworkInterfaces", "NetworkInterfaceId.1", "eni-0123456789abcdef0", "InvalidNetworkInterfaceID.NotFound"},
		{"DeleteNetworkInterface", "NetworkInterfaceId", "eni-12", "InvalidNetworkInterfaceId.Malformed"},
		{"DescribeInstances", "InstanceId.1", "i-zz", "InvalidInstanceID.Malformed"},
		{"DescribeInstances", "InstanceId.1", "i-0123456789abcdef0", "InvalidInstanceID.NotFound"},
		{"TerminateInstances", "InstanceId.1", "i-1", "InvalidInstanceID.Malformed"},
		{"DescribeSubnets", "SubnetId.1", "subnet-zz", "InvalidSubnetID.Malformed"},
		{"DescribeSubnets", "SubnetId.1", "subnet-12345678", "InvalidSubnetID.NotFound"},
		{"DescribeVpcs", "VpcId.1", "vpc-zz", "InvalidVpcID.Malformed"},
		{"DescribeVpcs", "VpcId.1", "vpc-12345678", "InvalidVpcID.NotFound"},
		{"DescribeSecurityGroups", "GroupId.1", "sg-zz", "InvalidGroupId.Malformed"},
		{"DescribeSecurityGroups", "GroupId.1", "sg-12345678", "InvalidGroup.NotFound"},
		{"DetachNetworkInterface", "AttachmentId", "foo", "InvalidNetworkInterfaceAttachmentId.Malformed"},
		{"DetachNetworkInterface", "AttachmentId", "eni-attach-12345678", "InvalidAttachmentID.NotFound"},
	}
	for _, c := range cases {
		status, body := query(t, l.env, c.action, url.Values{c.param: {c.id}})
		assert.Equal(t, 400, status, "%s %s", c.action, c.id)
		assert.Contains(t, body, "<Code>"+c.code+"</Code>", "%s %s", c.action, c.id)
	}
	status, body := query(t, l.env, "RunInstances", url.Values{"ImageId": {"ami-zz"}, "InstanceType": {"m5.large"},
		"MinCount": {"1"}, "MaxCount": {"1"}, "SubnetId": {l.sub.ID}})
	assert.Equal(t, 400, status)
	assert.Contains(t, body, "<Code>InvalidAMIID.Malformed</Code>")
	status, body = query(t, l.env, "CreateNetworkInterface", url.Values{"SubnetId": {l.sub.ID}, "SecurityGroupId.1": {"sg-12345678"}})
	assert.Equal(t, 400, status)
	assert.Contains(t, body, "<Code>InvalidSecurityGroupID.NotFound</Code>")
}

// Zones: the region's four, checked where EC2 checks them.
func TestAvailabilityZones(t *testing.T) {
	l := newLab(t, "m5.large")
	status, body := query(t, l.env, "DescribeAvailabilityZones", url.Values{"ZoneName.1": {"us-west-2z"}})
	assert.Equal(t, 400, status)
	assert.Contains(t, body, "<Code>InvalidParameterValue</Code>")
	out, err := l.ec2.DescribeAvailabilityZones(l.ctx, &ec2.DescribeAvailabilityZonesInput{ZoneIds: []string{"usw2-az3"}})
	require.NoError(t, err)
	require.Len(t, out.AvailabilityZones, 1)
	assert.Equal(t, "us-west-2c", aws.ToString(out.AvailabilityZones[0].ZoneName))
	out, err = l.ec2.DescribeAvailabilityZones(l.ctx, &ec2.DescribeAvailabilityZonesInput{Filters: []ec2types.Filter{{Name: aws.String("zone-name"), Values: []string{"*a", "*b"}}}})
	require.NoError(t, err)
	assert.Len(t, out.AvailabilityZones, 2)
	_, err = l.ec2.CreateSubnet(l.ctx, &ec2.CreateSubnetInput{VpcId: aws.String(l.vpc.ID), CidrBlock: aws.String("10.0.9.0/24"), AvailabilityZone: aws.String("eu-west-1a")})
	assert.Equal(t, "InvalidParameterValue", code(t, err))
}

// MaxResults and NextToken on every paginated action, with EC2's ranges.
func TestPaging(t *testing.T) {
	l := newLab(t, "m5.large")
	for i := range 6 {
		_, err := l.srv.CreateSecurityGroup("group-"+strconv.Itoa(i), l.vpc.ID)
		require.NoError(t, err)
	}
	ranges := map[string][2]string{
		"DescribeVpcs": {"4", "1001"}, "DescribeSubnets": {"4", "1001"}, "DescribeSecurityGroups": {"4", "1001"},
		"DescribeInstances": {"4", "1001"}, "DescribeNetworkInterfaces": {"4", "1001"},
		"GetSubnetCidrReservations": {"4", "1001"}, "DescribeInstanceTypes": {"4", "101"},
		"DescribeRouteTables": {"4", "101"}, "DescribeInternetGateways": {"4", "1001"}, "DescribeNatGateways": {"4", "1001"},
	}
	for action, bad := range ranges {
		for _, n := range bad {
			status, body := query(t, l.env, action, url.Values{"MaxResults": {n}, "SubnetId": {l.sub.ID}})
			assert.Equal(t, 400, status, "%s MaxResults=%s", action, n)
			assert.Contains(t, body, "InvalidParameterValue", action)
		}
		status, body := query(t, l.env, action, url.Values{"NextToken": {"garbage"}, "SubnetId": {l.sub.ID}})
		assert.Equal(t, 400, status, action)
		assert.Contains(t, body, "InvalidNextToken", action)
	}
	p := ec2.NewDescribeSecurityGroupsPaginator(l.ec2, &ec2.DescribeSecurityGroupsInput{MaxResults: aws.Int32(5)})
	pages, groups := 0, 0
	for p.HasMorePages() {
		out, err := p.NextPage(l.ctx)
		require.NoError(t, err)
		pages++
		groups += len(out.SecurityGroups)
	}
	assert.Equal(t, 2, pages)
	assert.Equal(t, 7, groups, "the default group and six more")
}

// Every element a served Describe answers with is one the model's output
// shape has, and the members real responses carry are there.
func TestResponseMembersAgainstModel(t *testing.T) {
	l := newLab(t, "m5.large")
	m := loadModel(t)
	for action, elems := range m.Elements {
		v := url.Values{}
		if action == "GetSubnetCidrReservations" {
			v.Set("SubnetId", l.sub.ID)
		}
		status, body := query(t, l.env, action, v)
		require.Equal(t, 200, status, "%s: %s", action, body)
		allowed := map[string]bool{action + "Response": true, "requestId": true, "item": true}
		for _, e := range elems {
			allowed[e] = true
		}
		seen := elementNames(t, body)
		for name := range seen {
			assert.True(t, allowed[name], "%s answers <%s>, which the model lacks", action, name)
		}
	}
	must := map[string][]string{
		"DescribeInstances": {"amiLaunchIndex", "architecture", "hypervisor", "rootDeviceName", "blockDeviceMapping",
			"ebsOptimized", "enaSupport", "cpuOptions", "metadataOptions", "groupName", "platformDetails", "currentInstanceBootMode"},
		"DescribeSubnets":           {"mapCustomerOwnedIpOnLaunch", "enableDns64", "ipv6Native", "privateDnsNameOptionsOnLaunch"},
		"DescribeSecurityGroups":    {"securityGroupArn", "ipPermissionsEgress"},
		"DescribeAvailabilityZones": {"optInStatus", "groupName", "networkBorderGroup"},
		"DescribeInstanceTypes":     {"vCpuInfo", "defaultVCpus", "processorInfo", "supportedArchitectures", "memoryInfo", "sizeInMiB"},
		"DescribeNetworkInterfaces": {"sourceDestCheck", "availabilityZoneId"},
	}
	for action, names := range must {
		v := url.Values{}
		if action == "DescribeInstanceTypes" {
			v.Set("InstanceType.1", "m5.large")
		}
		_, body := query(t, l.env, action, v)
		seen := elementNames(t, body)
		for _, n := range names {
			assert.True(t, seen[n], "%s lacks <%s>", action, n)
		}
	}
}

func elementNames(t *testing.T, body string) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	d := xml.NewDecoder(strings.NewReader(body))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return seen
		}
		require.NoError(t, err)
		if se, ok := tok.(xml.StartElement); ok {
			seen[se.Name.Local] = true
		}
	}
}
