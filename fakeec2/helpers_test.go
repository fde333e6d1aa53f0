package fakeec2_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/awshttp"
)

// env is one fake EC2 behind an httptest server and an SDK client for it.
type env struct {
	srv *fakeec2.Server
	url string
	ec2 *ec2.Client
	ctx context.Context
}

func newEnv(t testing.TB, cfg fakeec2.Config) *env {
	t.Helper()
	srv, err := fakeec2.New(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return &env{srv: srv, url: hs.URL, ec2: sdkClient(hs.URL), ctx: context.Background()}
}

func sdkClient(url string) *ec2.Client {
	return ec2.NewFromConfig(aws.Config{
		Region:      "us-west-2",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDENILAB", "secret", ""),
	}, func(o *ec2.Options) {
		o.BaseEndpoint = aws.String(url)
		o.Retryer = aws.NopRetryer{}
		o.HTTPClient = awshttp.New()
	})
}

// lab is a VPC 10.0.0.0/16 with subnet-a (10.0.0.0/24, us-west-2a) and one
// m5.large in it.
type lab struct {
	*env
	vpc  fakeec2.VPC
	sub  fakeec2.Subnet
	inst fakeec2.Instance
}

func newLab(t testing.TB, typ string) *lab {
	t.Helper()
	e := newEnv(t, fakeec2.Config{Seed: 1})
	v, err := e.srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.0.0.0/16"})
	require.NoError(t, err)
	sn, err := e.srv.CreateSubnet(fakeec2.SubnetSpec{ID: "subnet-0000000000000000a", VPCID: v.ID, CIDR: "10.0.0.0/24", AZ: "us-west-2a"})
	require.NoError(t, err)
	in, err := e.srv.RunInstance(fakeec2.InstanceSpec{Type: typ, SubnetID: sn.ID})
	require.NoError(t, err)
	return &lab{env: e, vpc: v, sub: sn, inst: in}
}

func code(t testing.TB, err error) string {
	t.Helper()
	require.Error(t, err)
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae), "not an API error: %v", err)
	return ae.ErrorCode()
}

func message(t testing.TB, err error) string {
	t.Helper()
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae), "not an API error: %v", err)
	return ae.ErrorMessage()
}

func (l *lab) newENI(t testing.TB, subnet string) *types.NetworkInterface {
	t.Helper()
	out, err := l.ec2.CreateNetworkInterface(l.ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet)})
	require.NoError(t, err)
	return out.NetworkInterface
}

func (l *lab) attach(t testing.TB, eniID string, dev int32) (string, error) {
	t.Helper()
	out, err := l.ec2.AttachNetworkInterface(l.ctx, &ec2.AttachNetworkInterfaceInput{
		NetworkInterfaceId: aws.String(eniID), InstanceId: aws.String(l.inst.ID), DeviceIndex: aws.Int32(dev)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.AttachmentId), nil
}
