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

// FuzzParseAndDispatch feeds arbitrary query strings and bodies, as a POST
// and as a GET, through request parsing and every action: the server must
// never panic, must answer well-formed XML, and must never answer 200
// unless the request named a real action.
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
		{"", "Action=AllocateAddress"},
		{"", "Action=CreateNatGateway&SubnetId=subnet-a&AllocationId=eipalloc-1"},
		{"", "Action=CreateRoute&RouteTableId=rtb-1&DestinationCidrBlock=0.0.0.0/0&GatewayId=igw-1"},
		{"", "Action=ModifySubnetAttribute&SubnetId=subnet-a&MapPublicIpOnLaunch.Value=true"},
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
		// The same input as a form POST, then as a GET of the query alone.
		post := httptest.NewRequest(http.MethodPost, "http://fake/", strings.NewReader(body))
		post.URL.RawQuery = query
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		get := httptest.NewRequest(http.MethodGet, "http://fake/", nil)
		get.URL.RawQuery = query
		for _, req := range []*http.Request{post, get} {
			form := body
			if req.Method == http.MethodGet {
				form = ""
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			res := rec.Result()
			out, _ := io.ReadAll(res.Body)
			if err := xml.Unmarshal(out, new(struct{})); err != nil {
				t.Fatalf("%s: status %d: malformed XML %q: %v", req.Method, res.StatusCode, out, err)
			}
			if res.StatusCode == http.StatusOK {
				// The server reads the query string first, then the body,
				// and acts on the first Action it finds.
				q, _ := url.ParseQuery(query)
				b, _ := url.ParseQuery(form)
				act := q.Get("Action")
				if _, inQuery := q["Action"]; !inQuery {
					act = b.Get("Action")
				}
				if !slices.Contains(actions, act) {
					t.Fatalf("%s: 200 for a request naming no action: query %q body %q", req.Method, query, form)
				}
			}
			if res.StatusCode != http.StatusOK && !strings.Contains(string(out), "<Errors><Error><Code>") {
				t.Fatalf("%s: status %d without an EC2 error document: %q", req.Method, res.StatusCode, out)
			}
		}
	})
}
