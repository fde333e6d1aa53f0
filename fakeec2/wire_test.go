package fakeec2_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/clock"
)

func post(t testing.TB, url string, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, "application/x-www-form-urlencoded", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

type errorDoc struct {
	XMLName xml.Name `xml:"Response"`
	Code    string   `xml:"Errors>Error>Code"`
	Message string   `xml:"Errors>Error>Message"`
	RID     string   `xml:"RequestID"`
}

func TestSuccessXMLShape(t *testing.T) {
	l := newLab(t, "m5.large")
	resp, body := post(t, l.url, url.Values{"Action": {"CreateNetworkInterface"}, "Version": {"2016-11-15"}, "SubnetId": {l.sub.ID}}.Encode())
	assert.Equal(t, 200, resp.StatusCode)
	rid := resp.Header.Get("x-amzn-requestid")
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, rid)
	assert.Contains(t, body, `<CreateNetworkInterfaceResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>`+rid+`</requestId><networkInterface>`)

	eni := l.srv.ENIs()[1].ID
	resp, body = post(t, l.url, "Action=DeleteNetworkInterface&Version=2016-11-15&NetworkInterfaceId="+eni)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, "<return>true</return>", "mutating calls answer return=true")

	resp, body = post(t, l.url, "Action=DescribeNetworkInterfaces&Version=2016-11-15")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, "<networkInterfaceSet><item><networkInterfaceId>"+l.inst.ENIs[0].ID)
	// A bare Key= is an empty list: no ids, so every ENI.
	resp, body = post(t, l.url, "Action=DescribeNetworkInterfaces&Version=2016-11-15&NetworkInterfaceId=")
	assert.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, "<networkInterfaceSet><item><networkInterfaceId>"+l.inst.ENIs[0].ID)

	// GET with a query string works too.
	r, err := http.Get(l.url + "/?Action=DescribeSubnets&Version=2016-11-15&SubnetId.1=" + l.sub.ID)
	require.NoError(t, err)
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	assert.Equal(t, 200, r.StatusCode)
	assert.Contains(t, string(b), "<subnetId>subnet-0000000000000000a</subnetId>")
}

func TestBadInputGetsEC2Errors(t *testing.T) {
	l := newLab(t, "m5.large")
	eni := l.inst.ENIs[0].ID
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"unknown action", "Action=LaunchRockets&Version=2016-11-15", 400, "InvalidAction"},
		{"no action", "Version=2016-11-15", 400, "MissingAction"},
		{"bad version", "Action=DescribeVpcs&Version=2099-01-01", 400, "NoSuchVersion"},
		{"bad number", "Action=AssignPrivateIpAddresses&NetworkInterfaceId=" + eni + "&SecondaryPrivateIpAddressCount=ten", 400, "InvalidParameterValue"},
		{"huge count", "Action=AssignPrivateIpAddresses&NetworkInterfaceId=" + eni + "&SecondaryPrivateIpAddressCount=99999999999999999999", 400, "InvalidParameterValue"},
		{"large count", "Action=AssignPrivateIpAddresses&NetworkInterfaceId=" + eni + "&SecondaryPrivateIpAddressCount=1000000000", 400, "PrivateIpAddressLimitExceeded"},
		{"negative count", "Action=AssignPrivateIpAddresses&NetworkInterfaceId=" + eni + "&Ipv4PrefixCount=-1", 400, "InvalidParameterValue"},
		{"huge instance count", "Action=RunInstances&MinCount=100000&MaxCount=100000&SubnetId=subnet-0000000000000000a&InstanceType=m5.large", 400, "InstanceLimitExceeded"},
		{"bad cidr", "Action=CreateVpc&CidrBlock=10.0.0.0/33", 400, "InvalidParameterValue"},
		{"unaligned cidr", "Action=CreateVpc&CidrBlock=10.0.0.1/16", 400, "InvalidParameterValue"},
		{"ipv6 cidr", "Action=CreateVpc&CidrBlock=fd00::/64", 400, "InvalidParameterValue"},
		{"bad ip", "Action=AssignPrivateIpAddresses&NetworkInterfaceId=" + eni + "&PrivateIpAddress.1=10.0.0.300", 400, "InvalidParameterValue"},
		{"bad prefix", "Action=AssignPrivateIpAddresses&NetworkInterfaceId=" + eni + "&Ipv4Prefix.1=10.0.0.16/27", 400, "InvalidParameterValue"},
		{"missing subnet", "Action=CreateNetworkInterface", 400, "MissingParameter"},
		{"missing device index", "Action=AttachNetworkInterface&NetworkInterfaceId=" + eni + "&InstanceId=" + l.inst.ID, 400, "MissingParameter"},
		{"missing counts", "Action=RunInstances&SubnetId=subnet-0000000000000000a", 400, "MissingParameter"},
		{"nothing to assign", "Action=AssignPrivateIpAddresses&NetworkInterfaceId=" + eni, 400, "MissingParameter"},
		{"ips and prefixes", "Action=AssignPrivateIpAddresses&NetworkInterfaceId=" + eni + "&SecondaryPrivateIpAddressCount=1&Ipv4PrefixCount=1", 400, "InvalidParameterCombination"},
		{"bad bool", "Action=DetachNetworkInterface&AttachmentId=x&Force=maybe", 400, "InvalidParameterValue"},
		{"bad filter", "Action=DescribeNetworkInterfaces&Filter.1.Name=colour&Filter.1.Value.1=red", 400, "InvalidParameterValue"},
		{"filter without name", "Action=DescribeNetworkInterfaces&Filter.1.Value.1=red", 400, "MissingParameter"},
		{"bad max results", "Action=DescribeNetworkInterfaces&MaxResults=1e9", 400, "InvalidParameterValue"},
		{"dry run", "Action=DescribeVpcs&DryRun=true", 412, "DryRunOperation"},
		{"bad escape", "Action=DescribeVpcs&VpcId.1=%zz", 400, "InvalidParameterValue"},
		{"modify nothing", "Action=ModifyNetworkInterfaceAttribute&NetworkInterfaceId=" + eni, 400, "InvalidParameterCombination"},
		{"unknown instance type", "Action=RunInstances&MinCount=1&MaxCount=1&SubnetId=subnet-0000000000000000a&InstanceType=m5.enormous", 400, "InvalidParameterValue"},
		{"bad reservation type", "Action=CreateSubnetCidrReservation&SubnetId=subnet-0000000000000000a&Cidr=10.0.0.0/28&ReservationType=both", 400, "InvalidParameterValue"},
		{"tag on unknown id", "Action=CreateTags&ResourceId.1=nope-1&Tag.1.Key=a&Tag.1.Value=b", 400, "InvalidID"},
		{"xml in input", "Action=<Bad>&x=]]>", 400, "InvalidAction"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post(t, l.url, c.body)
			assert.Equal(t, c.status, resp.StatusCode, body)
			var doc errorDoc
			require.NoError(t, xml.Unmarshal([]byte(body), &doc), body)
			assert.Equal(t, c.code, doc.Code, doc.Message)
			assert.NotEmpty(t, doc.Message)
			assert.Equal(t, resp.Header.Get("x-amzn-requestid"), doc.RID)
		})
	}

	t.Run("too many filter values", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Action=DescribeNetworkInterfaces&Filter.1.Name=private-ip-address")
		for i := 1; i <= 201; i++ {
			fmt.Fprintf(&b, "&Filter.1.Value.%d=10.0.0.%d", i, i%250)
		}
		resp, body := post(t, l.url, b.String())
		assert.Equal(t, 400, resp.StatusCode)
		assert.Contains(t, body, "<Code>InvalidParameterValue</Code>")
	})
	t.Run("too many parameters", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Action=DescribeInstances")
		for i := 1; i <= 13000; i++ {
			fmt.Fprintf(&b, "&InstanceId.%d=i-%d", i, i)
		}
		resp, body := post(t, l.url, b.String())
		assert.Equal(t, 400, resp.StatusCode)
		assert.Contains(t, body, "<Code>InvalidParameterValue</Code>")
	})
	t.Run("oversized body", func(t *testing.T) {
		big := "Action=DescribeVpcs&Pad=" + strings.Repeat("a", 2<<20)
		resp, body := post(t, l.url, big)
		assert.Equal(t, 413, resp.StatusCode)
		assert.Contains(t, body, "<Code>RequestEntityTooLarge</Code>")
	})
	t.Run("wrong method", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodDelete, l.url+"/?Action=DescribeVpcs", nil)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 400, resp.StatusCode)
	})
	t.Run("json body", func(t *testing.T) {
		resp, err := http.Post(l.url, "application/json", strings.NewReader(`{"Action":"DescribeVpcs"}`))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 400, resp.StatusCode)
	})
}

// recorder is a hand-written Interceptor that can fail or delay calls.
type recorder struct {
	mu       sync.Mutex
	verdict  func(fakeec2.Call) fakeec2.Verdict
	calls    []fakeec2.Call
	outcomes []fakeec2.Outcome
}

func (r *recorder) Before(c fakeec2.Call) fakeec2.Verdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
	if r.verdict != nil {
		return r.verdict(c)
	}
	return fakeec2.Verdict{}
}

func (r *recorder) After(c fakeec2.Call, v fakeec2.Verdict, o fakeec2.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, o)
}

func TestInterceptorSeesAndShapesEveryCall(t *testing.T) {
	rec := &recorder{}
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newEnv(t, fakeec2.Config{Clock: fc, Interceptor: rec})
	_, err := e.srv.CreateVPC(fakeec2.VPCSpec{ID: "vpc-1", CIDR: "10.0.0.0/16"})
	require.NoError(t, err)

	_, err = e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-1"}})
	require.NoError(t, err)
	require.Len(t, rec.calls, 1)
	assert.Equal(t, "DescribeVpcs", rec.calls[0].Action)
	assert.Equal(t, "vpc-1", rec.calls[0].Params.Get("VpcId.1"))
	assert.Equal(t, 1, rec.calls[0].Attempt, "from amz-sdk-request")
	assert.Equal(t, 200, rec.outcomes[0].Status)
	assert.NotEmpty(t, rec.outcomes[0].RequestID)

	// An injected error is answered instead of running the action.
	rec.verdict = func(c fakeec2.Call) fakeec2.Verdict {
		return fakeec2.Verdict{Err: &fakeec2.Error{Code: "RequestLimitExceeded", Message: "Request limit exceeded.", Status: 503}, Fault: "throttle"}
	}
	_, err = e.ec2.CreateVpc(e.ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.9.0.0/16")})
	assert.Equal(t, "RequestLimitExceeded", code(t, err))
	assert.Equal(t, 503, rec.outcomes[1].Status)
	assert.Equal(t, "RequestLimitExceeded", rec.outcomes[1].Code)
	assert.Len(t, e.srv.Subnets(), 0)
	_, ok := e.srv.VPC("vpc-1")
	assert.True(t, ok)

	// Latency waits on the lab clock, without holding the state lock.
	rec.verdict = func(c fakeec2.Call) fakeec2.Verdict {
		if c.Action == "DescribeVpcs" {
			return fakeec2.Verdict{Latency: 3 * time.Second}
		}
		return fakeec2.Verdict{}
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{})
		done <- err
	}()
	fc.BlockUntil(1)
	_, err = e.srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: "vpc-1", CIDR: "10.0.1.0/24"})
	require.NoError(t, err, "state is usable while a call waits")
	select {
	case <-done:
		t.Fatal("answered before its latency elapsed")
	default:
	}
	fc.Advance(3 * time.Second)
	require.NoError(t, <-done)
	assert.Equal(t, 3*time.Second, rec.outcomes[2].Latency)

	// A client that gives up does not wedge the server.
	ctx, cancel := context.WithCancel(e.ctx)
	go func() { fc.BlockUntil(1); cancel() }()
	_, err = e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	assert.Error(t, err)
	require.Eventually(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, o := range rec.outcomes {
			if o.Code == "RequestCanceled" {
				return true
			}
		}
		return false
	}, 5*time.Second, time.Millisecond, "the abandoned call stops waiting and is reported to the interceptor")

	// Unknown actions go through the interceptor too.
	rec.verdict = nil
	resp, _ := post(t, e.url, "Action=Nope")
	assert.Equal(t, 400, resp.StatusCode)
	require.Eventually(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.calls[len(rec.calls)-1].Action == "Nope" && rec.outcomes[len(rec.outcomes)-1].Code == "InvalidAction"
	}, 5*time.Second, time.Millisecond)
}

func TestDescribeLagHidesFreshChanges(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newEnv(t, fakeec2.Config{Clock: fc, DescribeLag: 2 * time.Second})
	v, _ := e.srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
	sn, _ := e.srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: v.ID, CIDR: "10.0.0.0/24"})
	in, err := e.srv.RunInstance(fakeec2.InstanceSpec{Type: "m5.large", SubnetID: sn.ID})
	require.NoError(t, err)
	primary := in.ENIs[0].ID
	_, err = e.ec2.AssignPrivateIpAddresses(e.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(primary), SecondaryPrivateIpAddressCount: aws.Int32(2)})
	require.NoError(t, err)
	out, err := e.ec2.DescribeNetworkInterfaces(e.ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{primary}})
	require.NoError(t, err)
	assert.Len(t, out.NetworkInterfaces[0].PrivateIpAddresses, 1, "new secondaries not visible yet")
	fc.Advance(2 * time.Second)
	out, err = e.ec2.DescribeNetworkInterfaces(e.ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{primary}})
	require.NoError(t, err)
	assert.Len(t, out.NetworkInterfaces[0].PrivateIpAddresses, 3)
}

func TestWatchDeliversEventsInOrder(t *testing.T) {
	l := newLab(t, "m5.large")
	events, stop := l.srv.Watch()
	n := l.newENI(t, l.sub.ID)
	id := aws.ToString(n.NetworkInterfaceId)
	att, err := l.attach(t, id, 1)
	require.NoError(t, err)
	_, err = l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(id), SecondaryPrivateIpAddressCount: aws.Int32(2)})
	require.NoError(t, err)
	_, err = l.ec2.DetachNetworkInterface(l.ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(att)})
	require.NoError(t, err)
	_, err = l.ec2.DeleteNetworkInterface(l.ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(id)})
	require.NoError(t, err)
	require.NoError(t, l.srv.TerminateInstance(l.inst.ID))

	want := []fakeec2.EventKind{fakeec2.ENIAttached, fakeec2.AddressesChanged, fakeec2.ENIDetached, fakeec2.ENIDeleted,
		fakeec2.ENIDetached, fakeec2.ENIDeleted, fakeec2.InstanceTerminated}
	var got []fakeec2.Event
	for range want {
		select {
		case ev := <-events:
			got = append(got, ev)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d events", len(got))
		}
	}
	for i, k := range want {
		assert.Equal(t, k, got[i].Kind, "event %d", i)
	}
	assert.Equal(t, l.inst.ID, got[0].InstanceID)
	assert.Equal(t, "in-use", got[0].ENI.Status)
	assert.Len(t, got[1].ENI.SecondaryIPs, 2, "snapshot after the change")
	assert.Equal(t, l.inst.ID, got[2].InstanceID, "detach names the instance left")
	assert.Empty(t, got[2].ENI.InstanceID)
	stop()
	_, open := <-events
	assert.False(t, open, "closed after stop")

	// Close closes the channels of every watcher still open.
	ev2, _ := l.srv.Watch()
	require.NoError(t, l.srv.Close())
	_, open = <-ev2
	assert.False(t, open)
	require.NoError(t, l.srv.Close(), "idempotent")
}

// Moving addresses with AllowReassignment changes two ENIs: each gets one
// event, the one that lost addresses first.
func TestWatchReportsReassignmentOncePerENI(t *testing.T) {
	l := newLab(t, "m5.large")
	from := l.newENI(t, l.sub.ID)
	as, err := l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: from.NetworkInterfaceId, SecondaryPrivateIpAddressCount: aws.Int32(2)})
	require.NoError(t, err)
	events, stop := l.srv.Watch()
	defer stop()
	_, err = l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID), AllowReassignment: aws.Bool(true),
		PrivateIpAddresses: []string{aws.ToString(as.AssignedPrivateIpAddresses[0].PrivateIpAddress), aws.ToString(as.AssignedPrivateIpAddresses[1].PrivateIpAddress)}})
	require.NoError(t, err)
	require.NoError(t, l.srv.TerminateInstance(l.inst.ID)) // a marker: the events before it are the reassignment's
	var got []string
	for ev := range events {
		if ev.Kind != fakeec2.AddressesChanged {
			break
		}
		got = append(got, fmt.Sprintf("%s:%d", ev.ENI.ID, len(ev.ENI.SecondaryIPs)))
	}
	assert.Equal(t, []string{aws.ToString(from.NetworkInterfaceId) + ":0", l.inst.ENIs[0].ID + ":2"}, got)
}

func TestWatchNeverBlocksEC2(t *testing.T) {
	l := newLab(t, "m5.24xlarge")
	_, stop := l.srv.Watch() // nobody reads
	defer stop()
	// A blocked emit would hang the calls below; run them aside and fail
	// with a message after a generous bound instead of hanging the suite.
	done := make(chan error, 1)
	go func() {
		for range 20 {
			_, err := l.ec2.AssignPrivateIpAddresses(l.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(l.inst.ENIs[0].ID), SecondaryPrivateIpAddressCount: aws.Int32(1)})
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("20 AssignPrivateIpAddresses calls did not finish in 30s: an unread Watch blocks EC2 calls")
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	err := fakeec2.Config{IMDSLag: -1, DescribeLag: -1, MaxBodyBytes: -5, AccountID: "12"}.Validate()
	require.Error(t, err)
	for _, s := range []string{"IMDSLag", "DescribeLag", "MaxBodyBytes", "AccountID"} {
		assert.Contains(t, err.Error(), s)
	}
	_, err = fakeec2.New(fakeec2.Config{IMDSLag: -1})
	assert.Error(t, err)
	assert.NoError(t, fakeec2.Config{}.Validate())
}

func TestConcurrentClientsLoseNoAddresses(t *testing.T) {
	e := newEnv(t, fakeec2.Config{Seed: 9})
	v, _ := e.srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
	sn, _ := e.srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: v.ID, CIDR: "10.0.0.0/22"})
	events, stop := e.srv.Watch()
	defer stop()
	go func() {
		for range events {
		}
	}()
	var ins []fakeec2.Instance
	for range 6 {
		in, err := e.srv.RunInstance(fakeec2.InstanceSpec{Type: "m5.4xlarge", SubnetID: sn.ID})
		require.NoError(t, err)
		ins = append(ins, in)
	}
	before, _ := e.srv.Subnet(sn.ID)
	var wg sync.WaitGroup
	errs := make(chan error, len(ins))
	for _, in := range ins {
		wg.Go(func() {
			eni := aws.String(in.ENIs[0].ID)
			for range 20 {
				out, err := e.ec2.AssignPrivateIpAddresses(e.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: eni, SecondaryPrivateIpAddressCount: aws.Int32(3)})
				if err != nil {
					errs <- err
					return
				}
				var ips []string
				for _, a := range out.AssignedPrivateIpAddresses {
					ips = append(ips, aws.ToString(a.PrivateIpAddress))
				}
				if _, err := e.ec2.UnassignPrivateIpAddresses(e.ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: eni, PrivateIpAddresses: ips}); err != nil {
					errs <- err
					return
				}
				_ = e.srv.ENIs()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	after, _ := e.srv.Subnet(sn.ID)
	assert.Equal(t, before.Free, after.Free)
}
