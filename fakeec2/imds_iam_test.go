package fakeec2_test

import (
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
	"github.com/enilab/enilab/internal/awshttp"
)

// The SDK's own instance-role provider (the one the AWS CLI and every SDK
// fall back to on an instance) finds the node role's credentials in IMDS,
// and an EC2 client signing with them is served.
func TestIMDSServesTheInstanceRoleCredentials(t *testing.T) {
	l := newLab(t, "m5.large")
	md := httptest.NewServer(l.srv.IMDS(l.inst.ID))
	t.Cleanup(md.Close)
	provider := ec2rolecreds.New(func(o *ec2rolecreds.Options) {
		o.Client = imds.New(imds.Options{Endpoint: md.URL})
	})
	creds, err := provider.Retrieve(l.ctx)
	require.NoError(t, err)
	assert.Regexp(t, `^ASIA[0-9A-F]{16}$`, creds.AccessKeyID)
	assert.Len(t, creds.SecretAccessKey, 40)
	assert.NotEmpty(t, creds.SessionToken)
	assert.True(t, creds.CanExpire)
	assert.True(t, creds.Expires.After(time.Now().Add(30*time.Minute)), "expires %v", creds.Expires)

	role, err := imds.New(imds.Options{Endpoint: md.URL}).GetMetadata(l.ctx, &imds.GetMetadataInput{Path: "iam/security-credentials/"})
	require.NoError(t, err)
	name, err := io.ReadAll(role.Content)
	role.Content.Close()
	require.NoError(t, err)
	assert.Equal(t, fakeec2.NodeRole, string(name))

	client := ec2.NewFromConfig(aws.Config{Region: "us-west-2", Credentials: aws.NewCredentialsCache(provider)}, func(o *ec2.Options) {
		o.BaseEndpoint = aws.String(l.url)
		o.HTTPClient = awshttp.New()
	})
	out, err := client.DescribeInstances(l.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{l.inst.ID}})
	require.NoError(t, err)
	require.Len(t, out.Reservations, 1)
}
