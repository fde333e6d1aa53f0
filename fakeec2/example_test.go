package fakeec2_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/awshttp"
)

// A lab sets up its VPC through the Go API, then drives the fake with the
// unmodified SDK, which meets EC2's limits exactly where EC2 has them.
func Example() {
	srv, _ := fakeec2.New(fakeec2.Config{Seed: 1})
	defer srv.Close()
	vpc, _ := srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
	subnet, _ := srv.CreateSubnet(fakeec2.SubnetSpec{ID: "subnet-a", VPCID: vpc.ID, CIDR: "10.0.0.0/24"})
	node, _ := srv.RunInstance(fakeec2.InstanceSpec{Type: "m5.large", SubnetID: subnet.ID})

	hs := httptest.NewServer(srv)
	defer hs.Close()
	client := ec2.NewFromConfig(aws.Config{
		Region:      "us-west-2",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	}, func(o *ec2.Options) {
		o.BaseEndpoint = aws.String(hs.URL)
		o.HTTPClient = awshttp.New() // see package awshttp: in-process servers answer fast enough to trip an SDK race
	})

	ctx := context.Background()
	eni := aws.String(node.ENIs[0].ID)
	_, err := client.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: eni, SecondaryPrivateIpAddressCount: aws.Int32(9)})
	fmt.Println("9 secondaries:", err == nil)
	_, err = client.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: eni, SecondaryPrivateIpAddressCount: aws.Int32(1)})
	var ae smithy.APIError
	if errors.As(err, &ae) {
		fmt.Println("11th address:", ae.ErrorCode())
	}
	s, _ := srv.Subnet("subnet-a")
	fmt.Println("free in subnet-a:", s.Free)
	// Output:
	// 9 secondaries: true
	// 11th address: PrivateIpAddressLimitExceeded
	// free in subnet-a: 241
}
