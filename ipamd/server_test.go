package ipamd

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/enilab/enilab/ipamd/rpc"
)

// vpcCIDRsOverride serves a node's IMDS and, once set, answers
// vpc-ipv4-cidr-blocks with its own text, counting those reads.
type vpcCIDRsOverride struct {
	mu    sync.Mutex
	text  string
	reads int
}

func (o *vpcCIDRsOverride) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/vpc-ipv4-cidr-blocks") {
			o.mu.Lock()
			o.reads++
			text := o.text
			o.mu.Unlock()
			if text != "" {
				_, _ = w.Write([]byte(text))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (o *vpcCIDRsOverride) set(text string) (readsSoFar int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.text = text
	return o.reads
}

// TestAddNetworkReplyAsUpstream mirrors upstream rpc_handler.go
// AddNetwork: the VPC CIDRs are read from IMDS on every ADD, with
// AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS appended (invalid and IPv6 entries
// dropped); RouteTableId is 254 (main) for the primary ENI.
func TestAddNetworkReplyAsUpstream(t *testing.T) {
	l := newTestLab(t)
	imds := &vpcCIDRsOverride{}
	n := l.newNode(nodeSpec{Type: "c5.large", Env: map[string]string{
		"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": "192.168.0.0/16, bogus,fd00::/8,172.16.5.0/24",
	}})
	n.opts.IMDSEndpoint = httptest.NewServer(imds.wrap(l.ec2.IMDS(n.inst.ID))).URL
	n.start()

	_, r := n.add()
	require.True(t, r.Success)
	assert.Equal(t, []string{"10.0.0.0/16", "100.64.0.0/16", "192.168.0.0/16", "172.16.5.0/24"}, r.VPCv4CIDRs)
	assert.Equal(t, int32(254), r.IPAllocationMetadata[0].RouteTableId, "primary ENI: main table, as upstream's CalculateRouteTableId")
	assert.Contains(t, n.logs.String(), "bogus from AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS is not a valid CIDR")
	assert.Contains(t, n.logs.String(), "fd00::/8 from AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS is an IPV6 CIDR")

	before := imds.set("10.0.0.0/16\n10.1.0.0/16")
	_, r = n.add()
	require.True(t, r.Success)
	assert.Equal(t, []string{"10.0.0.0/16", "10.1.0.0/16", "192.168.0.0/16", "172.16.5.0/24"}, r.VPCv4CIDRs,
		"a CIDR block added to the VPC shows in the next ADD")
	assert.Equal(t, before+1, imds.set("10.0.0.0/16\n10.1.0.0/16"), "one IMDS read per ADD")
}

// TestAddNetworkExternalSNATOmitsExclusions: with external SNAT the
// exclusions are not appended (upstream AddNetwork, UseExternalSNAT).
func TestAddNetworkExternalSNATOmitsExclusions(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "c5.large", Env: map[string]string{
		"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": "192.168.0.0/16", "AWS_VPC_K8S_CNI_EXTERNALSNAT": "true",
	}})
	n.start()
	_, r := n.add()
	require.True(t, r.Success)
	assert.True(t, r.UseExternalSNAT)
	assert.Equal(t, []string{"10.0.0.0/16", "100.64.0.0/16"}, r.VPCv4CIDRs)
}

// TestRPCValidationAsUpstream mirrors upstream rpc_handler.go
// validateVersion, AddNetwork's IPAMKey check and DelNetwork's unknown pod.
func TestRPCValidationAsUpstream(t *testing.T) {
	l := newTestLab(t)
	n := l.newNode(nodeSpec{Type: "c5.large"})
	n.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	req := n.addReq("old-plugin")
	req.ClientVersion = "v1.19.0"
	_, err := n.client.AddNetwork(ctx, req)
	assert.Equal(t, codes.FailedPrecondition, status.Code(err))
	assert.Contains(t, err.Error(), `wrong client version "v1.19.0" (!= "`+rpc.Version+`")`)
	_, err = n.client.DelNetwork(ctx, &rpc.DelNetworkRequest{ContainerID: "c", IfName: "eth0", NetworkName: "aws-cni"})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "DelNetwork checks the version too")
	assert.Contains(t, n.logs.String(), "Rejecting AddNetwork request")

	for _, blank := range []func(*rpc.AddNetworkRequest){
		func(r *rpc.AddNetworkRequest) { r.NetworkName = "" },
		func(r *rpc.AddNetworkRequest) { r.ContainerID = "" },
		func(r *rpc.AddNetworkRequest) { r.IfName = "" },
	} {
		req := n.addReq("p")
		blank(req)
		r, err := n.client.AddNetwork(ctx, req)
		require.NoError(t, err, "a missing key field is Success=false, not an error")
		assert.False(t, r.Success)
	}
	assert.Contains(t, n.logs.String(), "Unable to generate IPAMKey from")
	assert.Zero(t, n.d.Status().AssignedIPs)

	_, err = n.del("never-added")
	require.Error(t, err)
	assert.Equal(t, codes.Unknown, status.Code(err), "upstream returns the datastore's error as is")
	assert.Equal(t, "1 error occurred:\n\t* datastore: unknown pod\n\n", status.Convert(err).Message())
}
