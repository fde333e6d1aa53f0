package fakeec2_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/enilab/enilab/fakeec2"
)

// FuzzParseAndDispatch feeds arbitrary query strings and bodies through
// request parsing and every action: the server must never panic, must
// answer well-formed XML, and must never answer 200 unless the request
// named a real action.
func FuzzParseAndDispatch(f *testing.F) {
	seeds := []struct{ query, body string }{
		{"", "Action=DescribeNetworkInterfaces&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1"},
		{"", "Action=AssignPrivateIpAddresses&NetworkInterfaceId=eni-x&SecondaryPrivateIpAddressCount=3"},
		{"", "Action=AssignPrivateIpAddresses&NetworkInterfaceId=eni-x&Ipv4Prefix.1=10.0.0.16/28"},
		{"", "Action=CreateNetworkInterface&SubnetId=subnet-a&PrivateIpAddresses.1.PrivateIpAddress=10.0.0.9&PrivateIpAddresses.1.Primary=true"},
		{"", "Action=RunInstances&MinCount=1&MaxCount=2&SubnetId=subnet-a&InstanceType=m5.large"},
		{"", "Action=CreateVpc&CidrBlock=10.1.0.0/16"},
		{"", "Action=CreateSubnet&VpcId=vpc-1&CidrBlock=10.0.9.0/28"},
		{"", "Action=CreateSubnetCidrReservation&SubnetId=subnet-a&Cidr=10.0.0.64/28&ReservationType=prefix"},
		{"", "Action=AttachNetworkInterface&NetworkInterfaceId=eni-x&InstanceId=i-x&DeviceIndex=1"},
		{"", "Action=CreateTags&ResourceId.1=subnet-a&Tag.1.Key=k&Tag.1.Value=v"},
		{"Action=DescribeInstanceTypes&InstanceType.1=m5.large", ""},
		{"", "Action=DescribeNetworkInterfaces&MaxResults=5&NextToken=ZW5pLzM"},
		{"", "%%%&&&==="},
		{"", "Action=Describe%00Vpcs"},
	}
	for _, s := range seeds {
		f.Add(s.query, s.body)
	}
	actions := fakeec2.Actions()
	f.Fuzz(func(t *testing.T, query, body string) {
		// A fresh server per input keeps every failure reproducible alone.
		srv, err := fakeec2.New(fakeec2.Config{Seed: 1, MaxBodyBytes: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := srv.CreateVPC(fakeec2.VPCSpec{ID: "vpc-1", CIDR: "10.0.0.0/16"})
		sn, _ := srv.CreateSubnet(fakeec2.SubnetSpec{ID: "subnet-a", VPCID: v.ID, CIDR: "10.0.0.0/24"})
		if _, err := srv.RunInstance(fakeec2.InstanceSpec{Type: "m5.large", SubnetID: sn.ID}); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "http://fake/", strings.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		res := rec.Result()
		out, _ := io.ReadAll(res.Body)
		if err := xml.Unmarshal(out, new(struct{})); err != nil {
			t.Fatalf("status %d: malformed XML %q: %v", res.StatusCode, out, err)
		}
		if res.StatusCode == http.StatusOK {
			q, _ := url.ParseQuery(req.URL.RawQuery)
			b, _ := url.ParseQuery(body)
			act := b.Get("Action")
			if act == "" {
				act = q.Get("Action")
			}
			if !slices.Contains(actions, act) {
				t.Fatalf("200 for a request naming no action: query %q body %q", query, body)
			}
		}
		if res.StatusCode != http.StatusOK && !strings.Contains(string(out), "<Errors><Error><Code>") {
			t.Fatalf("status %d without an EC2 error document: %q", res.StatusCode, out)
		}
	})
}
