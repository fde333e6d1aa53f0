package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/cmd/fakeec2/app"
	"github.com/enilab/enilab/internal/awscli"
)

// start runs the command in-process on a free loopback port and returns
// its endpoint; the server stops at test cleanup and must stop cleanly.
func start(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := app.Run(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.Close()
		done <- err
	}()
	lines := bufio.NewScanner(pr)
	require.True(t, lines.Scan(), "no banner")
	m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(lines.Text())
	require.NotNil(t, m, lines.Text())
	go io.Copy(io.Discard, pr)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "clean shutdown")
		case <-time.After(10 * time.Second):
			t.Error("no shutdown")
		}
	})
	return m[1]
}

func TestBadFlags(t *testing.T) {
	ctx := context.Background()
	var stderr bytes.Buffer
	assert.Error(t, app.Run(ctx, []string{"--seed", "x"}, io.Discard, &stderr))
	assert.Error(t, app.Run(ctx, []string{"--throttle", "sometimes"}, io.Discard, io.Discard))
	err := app.Run(ctx, []string{"--throttle", "RunInstances=0/1"}, io.Discard, io.Discard)
	assert.ErrorContains(t, err, "--throttle: throttle RunInstances: capacity must be at least 1")
	err = app.Run(ctx, []string{"--faults", "/nonexistent.yaml", "--replay", "/nonexistent.jsonl"}, io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--faults")
	assert.Contains(t, err.Error(), "--replay", "every problem at once")
	assert.Error(t, app.Run(ctx, []string{"extra"}, io.Discard, io.Discard))
	assert.NoError(t, app.Run(ctx, []string{"-h"}, io.Discard, io.Discard))
}

type cli struct {
	t        *testing.T
	bin, url string
	env      []string
}

func newCLI(t *testing.T, url string) *cli {
	home := t.TempDir()
	return &cli{t: t, bin: awsCLIOrSkip(t), url: url, env: []string{
		"HOME=" + home, "PATH=/usr/bin:/bin", "AWS_ACCESS_KEY_ID=AKIDENILAB", "AWS_SECRET_ACCESS_KEY=secret",
		"AWS_DEFAULT_REGION=us-west-2", "AWS_PAGER=", "AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"), "AWS_MAX_ATTEMPTS=1",
	}}
}

// run executes `aws ec2 ARGS --output json`; it returns stdout parsed as
// JSON, or the CLI's stderr on failure.
func (c *cli) run(args ...string) (map[string]any, string, error) {
	full := append([]string{"--endpoint-url", c.url, "--output", "json", "ec2"}, args...)
	cmd := exec.Command(c.bin, full...)
	cmd.Env = c.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, errb.String(), err
	}
	var m map[string]any
	if out.Len() > 0 {
		require.NoError(c.t, json.Unmarshal(out.Bytes(), &m), out.String())
	}
	return m, errb.String(), nil
}

func (c *cli) ok(args ...string) map[string]any {
	c.t.Helper()
	m, stderr, err := c.run(args...)
	require.NoError(c.t, err, "aws ec2 %s: %s", strings.Join(args, " "), stderr)
	return m
}

// fails checks that the command fails with code; safe to call from
// several goroutines.
func (c *cli) fails(code string, args ...string) {
	c.t.Helper()
	_, stderr, err := c.run(args...)
	var ee *exec.ExitError
	if !assert.True(c.t, errors.As(err, &ee), "aws ec2 %s should fail: %v", strings.Join(args, " "), err) {
		return
	}
	assert.Contains(c.t, stderr, "("+code+")", "aws ec2 %s", strings.Join(args, " "))
}

func dig(m any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m = m.(map[string]any)[k]
		case int:
			m = m.([]any)[k]
		}
	}
	return m
}

func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the AWS CLI test (each CLI start takes about a second)")
	}
	url := start(t, "--seed", "5", "--throttle", "none")
	c := newCLI(t, url)

	vpc := dig(c.ok("create-vpc", "--cidr-block", "10.0.0.0/16"), "Vpc", "VpcId").(string)
	assert.Regexp(t, `^vpc-[0-9a-f]{17}$`, vpc)
	sub := c.ok("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.0.0.0/28", "--availability-zone", "us-west-2a")
	subID := dig(sub, "Subnet", "SubnetId").(string)
	assert.EqualValues(t, 11, dig(sub, "Subnet", "AvailableIpAddressCount"))
	run := c.ok("run-instances", "--image-id", "ami-12345678", "--instance-type", "m5.large", "--count", "1", "--subnet-id", subID)
	inst := dig(run, "Instances", 0, "InstanceId").(string)
	eni := dig(run, "Instances", 0, "NetworkInterfaces", 0, "NetworkInterfaceId").(string)

	as := c.ok("assign-private-ip-addresses", "--network-interface-id", eni, "--secondary-private-ip-address-count", "9")
	assert.Len(t, dig(as, "AssignedPrivateIpAddresses"), 9)
	c.fails("PrivateIpAddressLimitExceeded", "assign-private-ip-addresses", "--network-interface-id", eni, "--secondary-private-ip-address-count", "1")

	second := dig(c.ok("create-network-interface", "--subnet-id", subID, "--description", "aws-K8S-"+inst), "NetworkInterface", "NetworkInterfaceId").(string)
	c.fails("InsufficientFreeAddressesInSubnet", "create-network-interface", "--subnet-id", subID)
	att := c.ok("attach-network-interface", "--network-interface-id", second, "--instance-id", inst, "--device-index", "1")
	assert.Regexp(t, `^eni-attach-`, dig(att, "AttachmentId"))

	d := c.ok("describe-network-interfaces", "--filters", "Name=attachment.instance-id,Values="+inst)
	assert.Len(t, dig(d, "NetworkInterfaces"), 2)
	// The CLI paginates on its own: --page-size forces several requests.
	d = c.ok("describe-network-interfaces", "--page-size", "5")
	assert.Len(t, dig(d, "NetworkInterfaces"), 2)

	it := c.ok("describe-instance-types", "--instance-types", "m5.large")
	assert.EqualValues(t, 3, dig(it, "InstanceTypes", 0, "NetworkInfo", "MaximumNetworkInterfaces"))
	assert.EqualValues(t, 10, dig(it, "InstanceTypes", 0, "NetworkInfo", "Ipv4AddressesPerInterface"))

	// Error codes, checked concurrently (each CLI start costs a second).
	primaryAtt := dig(run, "Instances", 0, "NetworkInterfaces", 0, "Attachment", "AttachmentId").(string)
	checks := [][]string{
		{"InvalidNetworkInterfaceID.NotFound", "describe-network-interfaces", "--network-interface-ids", "eni-0123456789abcdef0"},
		{"InvalidNetworkInterface.InUse", "delete-network-interface", "--network-interface-id", second},
		{"OperationNotPermitted", "detach-network-interface", "--attachment-id", primaryAtt},
		{"InvalidParameterValue", "create-vpc", "--cidr-block", "10.0.0.0/33"},
	}
	var wg sync.WaitGroup
	for _, ch := range checks {
		wg.Go(func() { c.fails(ch[0], ch[1:]...) })
	}
	wg.Wait()
}

func TestAdminIMDSAndTrace(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "trace.jsonl")
	url := start(t, "--trace", trace)

	// EC2 through a plain form POST.
	post := func(body string) string {
		resp, err := http.Post(url+"/", "application/x-www-form-urlencoded", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, 200, resp.StatusCode, string(b))
		return string(b)
	}
	vpc := regexp.MustCompile(`<vpcId>(vpc-[0-9a-f]+)</vpcId>`).FindStringSubmatch(post("Action=CreateVpc&CidrBlock=10.0.0.0/16"))[1]
	sub := regexp.MustCompile(`<subnetId>(subnet-[0-9a-f]+)</subnetId>`).FindStringSubmatch(post("Action=CreateSubnet&VpcId=" + vpc + "&CidrBlock=10.0.0.0/24"))[1]
	inst := regexp.MustCompile(`<instanceId>(i-[0-9a-f]+)</instanceId>`).FindStringSubmatch(post("Action=RunInstances&MinCount=1&MaxCount=1&InstanceType=m5.large&SubnetId=" + sub))[1]

	// IMDS of that instance.
	req, _ := http.NewRequest(http.MethodPut, url+"/imds/"+inst+"/latest/api/token", nil)
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	tok, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	req, _ = http.NewRequest(http.MethodGet, url+"/imds/"+inst+"/latest/meta-data/instance-id", nil)
	req.Header.Set("X-aws-ec2-metadata-token", string(tok))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, inst, string(b))

	// Admin: add a fault, see it hit.
	resp, err = http.Post(url+"/admin/faults", "application/json", strings.NewReader(`{"name":"boom","kind":"unavailable","operations":["DescribeVpcs"],"percentage":100,"count":1}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode)
	resp, err = http.Post(url+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=DescribeVpcs"))
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	assert.Contains(t, string(b), "<Code>Unavailable</Code>")

	require.Eventually(t, func() bool {
		data, _ := os.ReadFile(trace)
		return bytes.Count(data, []byte("\n")) >= 4 && bytes.Contains(data, []byte("DescribeVpcs"))
	}, 5*time.Second, 10*time.Millisecond, "every request traced")
}

// --throttle takes custom buckets; actions it does not list keep EC2's.
func TestCustomThrottle(t *testing.T) {
	url := start(t, "--throttle", "DescribeVpcs=2/0")
	status := func(action string) int {
		resp, err := http.Post(url+"/", "application/x-www-form-urlencoded", strings.NewReader("Action="+action))
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, []int{200, 200, 503}, []int{status("DescribeVpcs"), status("DescribeVpcs"), status("DescribeVpcs")},
		"a bucket of 2 that never refills")
	assert.Equal(t, 200, status("DescribeSubnets"), "unlisted actions keep EC2's buckets")
}

func awsCLIOrSkip(t *testing.T) string {
	p := awscli.Path()
	if p == "" {
		t.Skip(awscli.Missing)
	}
	return p
}

// IPv6 as an EKS IPv6 cluster's VPC has it, through the AWS CLI: the VPC's
// Amazon-provided /56, a subnet's /64, one /80 on the node's primary ENI
// (what upstream's ipamd asks for in IPv6 mode) and addresses.
func TestAWSCLIIPv6(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the AWS CLI test (each CLI start takes about a second)")
	}
	url := start(t, "--seed", "5", "--throttle", "none")
	c := newCLI(t, url)

	vpc := dig(c.ok("create-vpc", "--cidr-block", "10.0.0.0/16", "--amazon-provided-ipv6-cidr-block"), "Vpc", "VpcId").(string)
	d := c.ok("describe-vpcs", "--vpc-ids", vpc)
	block := dig(d, "Vpcs", 0, "Ipv6CidrBlockAssociationSet", 0, "Ipv6CidrBlock").(string)
	vpc56 := netip.MustParsePrefix(block)
	require.Equal(t, 56, vpc56.Bits())
	b := vpc56.Addr().As16()
	b[7] = 3
	sub64 := netip.PrefixFrom(netip.AddrFrom16(b), 64).String()

	subID := dig(c.ok("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.0.0.0/24", "--availability-zone", "us-west-2a"), "Subnet", "SubnetId").(string)
	as := c.ok("associate-subnet-cidr-block", "--subnet-id", subID, "--ipv6-cidr-block", sub64)
	assert.Equal(t, sub64, dig(as, "Ipv6CidrBlockAssociation", "Ipv6CidrBlock"))
	c.fails("InvalidSubnet.Range", "associate-subnet-cidr-block", "--subnet-id", subID, "--ipv6-cidr-block", "2001:db8::/56")

	run := c.ok("run-instances", "--image-id", "ami-12345678", "--instance-type", "m5.large", "--count", "1", "--subnet-id", subID)
	eni := dig(run, "Instances", 0, "NetworkInterfaces", 0, "NetworkInterfaceId").(string)
	pfx := c.ok("assign-ipv6-addresses", "--network-interface-id", eni, "--ipv6-prefix-count", "1")
	p80 := netip.MustParsePrefix(dig(pfx, "AssignedIpv6Prefixes", 0).(string))
	assert.Equal(t, 80, p80.Bits())
	addrs := c.ok("assign-ipv6-addresses", "--network-interface-id", eni, "--ipv6-address-count", "2")
	assert.Len(t, dig(addrs, "AssignedIpv6Addresses"), 2)

	desc := c.ok("describe-network-interfaces", "--network-interface-ids", eni)
	assert.Equal(t, p80.String(), dig(desc, "NetworkInterfaces", 0, "Ipv6Prefixes", 0, "Ipv6Prefix"))
	assert.Len(t, dig(desc, "NetworkInterfaces", 0, "Ipv6Addresses"), 2)
	c.fails("PrivateIpAddressLimitExceeded", "assign-ipv6-addresses", "--network-interface-id", eni, "--ipv6-address-count", "8")
	c.ok("unassign-ipv6-addresses", "--network-interface-id", eni, "--ipv6-prefixes", p80.String())
	desc = c.ok("describe-network-interfaces", "--network-interface-ids", eni)
	assert.Empty(t, dig(desc, "NetworkInterfaces", 0).(map[string]any)["Ipv6Prefixes"], "the /80 is gone")
}

// Security groups for pods through the AWS CLI: a trunk ENI on an
// m5.large, branch ENIs in a "db-client" group associated under VLAN ids,
// and the "db" group admitting TCP 5432 from "db-client" only.
func TestAWSCLITrunkAndRules(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the AWS CLI test (each CLI start takes about a second)")
	}
	url := start(t, "--seed", "6", "--throttle", "none")
	c := newCLI(t, url)

	vpc := dig(c.ok("create-vpc", "--cidr-block", "10.0.0.0/16"), "Vpc", "VpcId").(string)
	subID := dig(c.ok("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.0.0.0/24", "--availability-zone", "us-west-2a"), "Subnet", "SubnetId").(string)
	inst := dig(c.ok("run-instances", "--image-id", "ami-12345678", "--instance-type", "m5.large", "--count", "1", "--subnet-id", subID), "Instances", 0, "InstanceId").(string)
	db := dig(c.ok("create-security-group", "--group-name", "db", "--description", "db", "--vpc-id", vpc), "GroupId").(string)
	client := dig(c.ok("create-security-group", "--group-name", "db-client", "--description", "db clients", "--vpc-id", vpc), "GroupId").(string)

	rules := c.ok("authorize-security-group-ingress", "--group-id", db, "--protocol", "tcp", "--port", "5432", "--source-group", client)
	assert.Equal(t, client, dig(rules, "SecurityGroupRules", 0, "ReferencedGroupInfo", "GroupId"))
	c.fails("InvalidPermission.Duplicate", "authorize-security-group-ingress", "--group-id", db, "--protocol", "tcp", "--port", "5432", "--source-group", client)
	g := c.ok("describe-security-groups", "--group-ids", db)
	assert.EqualValues(t, 5432, dig(g, "SecurityGroups", 0, "IpPermissions", 0, "FromPort"))

	trunk := dig(c.ok("create-network-interface", "--subnet-id", subID, "--interface-type", "trunk"), "NetworkInterface", "NetworkInterfaceId").(string)
	c.ok("attach-network-interface", "--network-interface-id", trunk, "--instance-id", inst, "--device-index", "1")
	branch := dig(c.ok("create-network-interface", "--subnet-id", subID, "--interface-type", "branch", "--groups", client), "NetworkInterface", "NetworkInterfaceId").(string)
	c.fails("InvalidSecurityGroupID.NotFound", "create-network-interface", "--subnet-id", subID, "--interface-type", "branch", "--groups", "sg-0123456789abcdef0")
	a := c.ok("associate-trunk-interface", "--branch-interface-id", branch, "--trunk-interface-id", trunk, "--vlan-id", "1")
	assert.EqualValues(t, 1, dig(a, "InterfaceAssociation", "VlanId"))
	d := c.ok("describe-trunk-interface-associations", "--filters", "Name=trunk-interface-association.trunk-interface-id,Values="+trunk)
	assert.Equal(t, branch, dig(d, "InterfaceAssociations", 0, "BranchInterfaceId"))
	c.fails("InvalidAssociationID.NotFound", "disassociate-trunk-interface", "--association-id", "trunk-assoc-0123456789abcdef0")
}
