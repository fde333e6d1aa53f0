package fakeec2_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/enilab/enilab/fakeec2"
)

// benchLab holds n ENIs: the primaries of n instances in one /16.
func benchLab(b *testing.B, n int) (*env, []fakeec2.Instance) {
	e := newEnv(b, fakeec2.Config{Seed: 1})
	v, err := e.srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
	if err != nil {
		b.Fatal(err)
	}
	sn, err := e.srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: v.ID, CIDR: "10.0.0.0/16"})
	if err != nil {
		b.Fatal(err)
	}
	ins := make([]fakeec2.Instance, 0, n)
	for range n {
		in, err := e.srv.RunInstance(fakeec2.InstanceSpec{Type: "m5.large", SubnetID: sn.ID})
		if err != nil {
			b.Fatal(err)
		}
		ins = append(ins, in)
	}
	return e, ins
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkDescribeNetworkInterfaces lists every ENI (unfiltered, one page)
// through the SDK, and reports the server's heap for that many ENIs.
func BenchmarkDescribeNetworkInterfaces(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("enis=%d", n), func(b *testing.B) {
			before := heapInUse()
			e, _ := benchLab(b, n)
			heap := heapInUse() - before
			b.ResetTimer()
			for b.Loop() {
				out, err := e.ec2.DescribeNetworkInterfaces(e.ctx, &ec2.DescribeNetworkInterfacesInput{})
				if err != nil {
					b.Fatal(err)
				}
				if len(out.NetworkInterfaces) != n {
					b.Fatalf("got %d ENIs", len(out.NetworkInterfaces))
				}
			}
			b.ReportMetric(float64(heap)/(1<<20), "server-heap-MiB")
		})
	}
}

// BenchmarkDescribeNetworkInterfacesOfInstance is ipamd's usual call: the
// ENIs of one instance, filtered, among 10,000.
func BenchmarkDescribeNetworkInterfacesOfInstance(b *testing.B) {
	e, ins := benchLab(b, 10000)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		in := ins[i%len(ins)]
		i++
		out, err := e.ec2.DescribeNetworkInterfaces(e.ctx, &ec2.DescribeNetworkInterfacesInput{
			Filters: []types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{in.ID}}}})
		if err != nil || len(out.NetworkInterfaces) != 1 {
			b.Fatal(err, len(out.NetworkInterfaces))
		}
	}
}

// BenchmarkAssignUnassign assigns one secondary address and gives it back,
// through the SDK, in a /16 already holding 10,000 ENIs.
func BenchmarkAssignUnassign(b *testing.B) {
	e, ins := benchLab(b, 10000)
	eni := aws.String(ins[0].ENIs[0].ID)
	b.ResetTimer()
	for b.Loop() {
		out, err := e.ec2.AssignPrivateIpAddresses(e.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: eni, SecondaryPrivateIpAddressCount: aws.Int32(1)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.ec2.UnassignPrivateIpAddresses(e.ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: eni,
			PrivateIpAddresses: []string{aws.ToString(out.AssignedPrivateIpAddresses[0].PrivateIpAddress)}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAssignUnassignPrefix does the same with one /28 prefix.
func BenchmarkAssignUnassignPrefix(b *testing.B) {
	e, ins := benchLab(b, 10000)
	eni := aws.String(ins[0].ENIs[0].ID)
	b.ResetTimer()
	for b.Loop() {
		out, err := e.ec2.AssignPrivateIpAddresses(e.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: eni, Ipv4PrefixCount: aws.Int32(1)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.ec2.UnassignPrivateIpAddresses(e.ctx, &ec2.UnassignPrivateIpAddressesInput{NetworkInterfaceId: eni,
			Ipv4Prefixes: []string{aws.ToString(out.AssignedIpv4Prefixes[0].Ipv4Prefix)}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServerDescribeNetworkInterfaces is the server's share of the
// 10,000-ENI Describe: parse, scan, render, without the SDK's decoding.
func BenchmarkServerDescribeNetworkInterfaces(b *testing.B) {
	e, _ := benchLab(b, 10000)
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/?Action=DescribeNetworkInterfaces&Version=2016-11-15", nil)
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
		b.ReportMetric(float64(rec.Body.Len())/(1<<20), "resp-MiB")
	}
}
