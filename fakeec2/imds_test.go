package fakeec2_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/clock"
)

func imdsGet(t *testing.T, base, token, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if token != "" {
		req.Header.Set("X-aws-ec2-metadata-token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func imdsToken(t *testing.T, base string, ttl string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, base+"/latest/api/token", nil)
	if ttl != "" {
		req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", ttl)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestIMDSv2(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	tc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newEnv(t, fakeec2.Config{Clock: fc, TokenClock: tc, IMDSLag: time.Second})
	v, _ := e.srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16", SecondaryCIDRs: []string{"100.64.0.0/16"}})
	sn, _ := e.srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: v.ID, CIDR: "10.0.0.0/24", AZ: "us-west-2c"})
	in, err := e.srv.RunInstance(fakeec2.InstanceSpec{Type: "m5.large", SubnetID: sn.ID})
	require.NoError(t, err)
	hs := httptest.NewServer(e.srv.IMDS(in.ID))
	defer hs.Close()

	resp, _ := imdsToken(t, hs.URL, "")
	assert.Equal(t, 400, resp.StatusCode, "TTL header required")
	resp, tok := imdsToken(t, hs.URL, "60")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "60", resp.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))

	st, _ := imdsGet(t, hs.URL, "", "/latest/meta-data/instance-id")
	assert.Equal(t, 401, st, "IMDSv2 requires the token")
	st, _ = imdsGet(t, hs.URL, "forged", "/latest/meta-data/instance-id")
	assert.Equal(t, 401, st)

	get := func(path string) string {
		st, body := imdsGet(t, hs.URL, tok, path)
		require.Equal(t, 200, st, path)
		return body
	}
	assert.Equal(t, in.ID, get("/latest/meta-data/instance-id"))
	assert.Equal(t, "m5.large", get("/latest/meta-data/instance-type"))
	assert.Equal(t, in.PrimaryIP.String(), get("/latest/meta-data/local-ipv4"))
	assert.Equal(t, "us-west-2c", get("/latest/meta-data/placement/availability-zone"))
	mac := in.ENIs[0].MAC
	assert.Equal(t, mac, get("/latest/meta-data/mac"))
	assert.Equal(t, mac+"/", get("/latest/meta-data/network/interfaces/macs/"))
	per := "/latest/meta-data/network/interfaces/macs/" + mac + "/"
	assert.Equal(t, "0", get(per+"device-number"))
	assert.Equal(t, "0", get(per+"network-card"))
	assert.Equal(t, in.ENIs[0].ID, get(per+"interface-id"))
	assert.Equal(t, sn.ID, get(per+"subnet-id"))
	assert.Equal(t, v.ID, get(per+"vpc-id"))
	assert.Equal(t, "10.0.0.0/24", get(per+"subnet-ipv4-cidr-block"))
	assert.Equal(t, "10.0.0.0/16\n100.64.0.0/16", get(per+"vpc-ipv4-cidr-blocks"))
	assert.Equal(t, in.PrimaryIP.String(), get(per+"local-ipv4s"))
	assert.Equal(t, in.ENIs[0].SecurityGroups[0], get(per+"security-group-ids"))
	st, _ = imdsGet(t, hs.URL, tok, per+"ipv4-prefix")
	assert.Equal(t, 404, st, "no prefixes: missing list")
	st, _ = imdsGet(t, hs.URL, tok, "/latest/meta-data/no-such-thing")
	assert.Equal(t, 404, st)

	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(get("/latest/dynamic/instance-identity/document")), &doc))
	assert.Equal(t, "us-west-2", doc["region"])
	assert.Equal(t, in.ID, doc["instanceId"])
	assert.Equal(t, "m5.large", doc["instanceType"])
	assert.Equal(t, "us-west-2c", doc["availabilityZone"])
	assert.Equal(t, in.PrimaryIP.String(), doc["privateIp"])

	// Attach + assign show only after IMDSLag.
	out, err := e.ec2.CreateNetworkInterface(e.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(sn.ID)})
	require.NoError(t, err)
	eni2 := aws.ToString(out.NetworkInterface.NetworkInterfaceId)
	_, err = e.ec2.AttachNetworkInterface(e.ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String(eni2), InstanceId: aws.String(in.ID), DeviceIndex: aws.Int32(1)})
	require.NoError(t, err)
	pfx, err := e.ec2.AssignPrivateIpAddresses(e.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(in.ENIs[0].ID), Ipv4PrefixCount: aws.Int32(1)})
	require.NoError(t, err)
	ips, err := e.ec2.AssignPrivateIpAddresses(e.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(in.ENIs[0].ID), SecondaryPrivateIpAddressCount: aws.Int32(2)})
	require.NoError(t, err)
	assert.Equal(t, mac+"/", get("/latest/meta-data/network/interfaces/macs/"), "attach not visible yet")
	assert.Equal(t, in.PrimaryIP.String(), get(per+"local-ipv4s"))
	fc.Advance(time.Second)
	mac2, _ := e.srv.ENI(eni2)
	assert.Equal(t, mac+"/\n"+mac2.MAC+"/", get("/latest/meta-data/network/interfaces/macs/"))
	assert.Equal(t, "1", get("/latest/meta-data/network/interfaces/macs/"+mac2.MAC+"/device-number"))
	assert.Equal(t, strings.Join([]string{in.PrimaryIP.String(), aws.ToString(ips.AssignedPrivateIpAddresses[0].PrivateIpAddress), aws.ToString(ips.AssignedPrivateIpAddresses[1].PrivateIpAddress)}, "\n"), get(per+"local-ipv4s"), "primary first")
	assert.Equal(t, aws.ToString(pfx.AssignedIpv4Prefixes[0].Ipv4Prefix), get(per+"ipv4-prefix"))

	// Tokens expire on the token clock (the wall clock the SDK counts a
	// TTL on), not on the lab clock: a lab running faster than real time
	// must not refuse a token its holder still believes valid.
	fc.Advance(61 * time.Second)
	st, _ = imdsGet(t, hs.URL, tok, "/latest/meta-data/instance-id")
	assert.Equal(t, 200, st, "lab time alone does not expire a token")
	tc.Advance(61 * time.Second)
	st, _ = imdsGet(t, hs.URL, tok, "/latest/meta-data/instance-id")
	assert.Equal(t, 401, st)

	// A terminated instance has no metadata.
	_, tok = imdsToken(t, hs.URL, "60")
	require.NoError(t, e.srv.TerminateInstance(in.ID))
	st, _ = imdsGet(t, hs.URL, tok, "/latest/meta-data/instance-id")
	assert.Equal(t, 404, st)
}

func TestIMDSThroughTheSDKClient(t *testing.T) {
	l := newLab(t, "c5.xlarge")
	hs := httptest.NewServer(l.srv.IMDS(l.inst.ID))
	defer hs.Close()
	c := imds.New(imds.Options{Endpoint: hs.URL})
	ctx := context.Background()
	doc, err := c.GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
	require.NoError(t, err)
	assert.Equal(t, l.inst.ID, doc.InstanceID)
	assert.Equal(t, "c5.xlarge", doc.InstanceType)
	assert.Equal(t, "us-west-2", doc.Region)
	md, err := c.GetMetadata(ctx, &imds.GetMetadataInput{Path: "network/interfaces/macs/" + l.inst.ENIs[0].MAC + "/local-ipv4s"})
	require.NoError(t, err)
	b, _ := io.ReadAll(md.Content)
	assert.Equal(t, l.inst.PrimaryIP.String(), string(b))
}

// Every key a metadata listing offers answers: IMDS clients (ipamd
// included) walk the listings, and a listed key that 404s breaks them.
func TestIMDSListingsOfferOnlyWhatAnswers(t *testing.T) {
	l := newLab(t, "m5.large")
	_, err := l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID), Ipv4PrefixCount: aws.Int32(1)})
	require.NoError(t, err)
	hs := httptest.NewServer(l.srv.IMDS(l.inst.ID))
	defer hs.Close()
	_, tok := imdsToken(t, hs.URL, "60")

	seen := map[string]bool{}
	var walk func(dir string)
	walk = func(dir string) {
		st, body := imdsGet(t, hs.URL, tok, dir)
		require.Equal(t, 200, st, dir)
		for _, key := range strings.Split(body, "\n") {
			path := dir + key
			seen[path] = true
			if strings.HasSuffix(key, "/") {
				walk(path)
				continue
			}
			st, _ := imdsGet(t, hs.URL, tok, path)
			assert.Equal(t, 200, st, "%s is listed but does not answer", path)
		}
	}
	walk("/latest/meta-data/")
	per := "/latest/meta-data/network/interfaces/macs/" + l.inst.ENIs[0].MAC + "/"
	for _, key := range []string{"device-number", "interface-id", "subnet-id", "vpc-id", "subnet-ipv4-cidr-block",
		"vpc-ipv4-cidr-blocks", "local-ipv4s", "ipv4-prefix", "security-group-ids", "network-card"} {
		assert.True(t, seen[per+key], "DESIGN §2 key %s is listed", key)
	}
	for _, path := range []string{"/latest/meta-data/instance-id", "/latest/meta-data/instance-type", "/latest/meta-data/mac",
		"/latest/meta-data/local-ipv4", "/latest/meta-data/placement/availability-zone"} {
		assert.True(t, seen[path], "%s is listed", path)
	}
}

// A live token stays valid however many others are issued (found by a
// 10-minute FuzzIMDS run: a bounded token table evicted live tokens, and
// their holders got 401), and a token is good only on the instance that
// issued it, as EC2's are.
func TestIMDSTokensNeverEvictedAndBoundToTheirInstance(t *testing.T) {
	l := newLab(t, "m5.large")
	other, err := l.srv.RunInstance(fakeec2.InstanceSpec{Type: "m5.large", SubnetID: l.sub.ID})
	require.NoError(t, err)
	a := httptest.NewServer(l.srv.IMDS(l.inst.ID))
	t.Cleanup(a.Close)
	b := httptest.NewServer(l.srv.IMDS(other.ID))
	t.Cleanup(b.Close)

	_, first := imdsToken(t, a.URL, "21600")
	for range 20000 {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPut, "/latest/api/token", nil)
		req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
		l.srv.IMDS(other.ID).ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code)
	}
	code, body := imdsGet(t, a.URL, first, "/latest/meta-data/instance-id")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, l.inst.ID, body)

	code, _ = imdsGet(t, b.URL, first, "/latest/meta-data/instance-id")
	assert.Equal(t, http.StatusUnauthorized, code, "another instance's token")
	last := "0"
	if strings.HasSuffix(first, "0") {
		last = "1" // a change, whatever the token ends with
	}
	code, _ = imdsGet(t, a.URL, first[:len(first)-1]+last, "/latest/meta-data/instance-id")
	assert.Equal(t, http.StatusUnauthorized, code, "a token altered by one digit")
}
