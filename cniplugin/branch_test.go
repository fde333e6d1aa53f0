package cniplugin

import (
	"net/netip"
	"testing"

	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/ipamd/rpc"
)

// A branch pod's ADD result packs the VLAN id in the dummy interface's mac
// (upstream cni.go add), which DEL reads back without ipamd
// (tryDelWithPrevResult).
func TestBranchResultCarriesVLANAsUpstreamAdd(t *testing.T) {
	a := Attachment{HostVeth: "vlan0123456789a", IfName: "eth0", Netns: "/run/netns/p", IP: netip.MustParseAddr("10.0.1.21"),
		Table: datapath.VLANTable(7), VLAN: 7, Dummy: "dummy0123456789a"}
	res, err := BuildResult("1.0.0", a)
	require.NoError(t, err)
	r, err := types100.GetResult(res)
	require.NoError(t, err)
	assert.Equal(t, types100.Interface{Name: "dummy0123456789a", Mac: "7"}, *r.Interfaces[2])
	back, err := attachmentFromResult(res, "eth0")
	require.NoError(t, err)
	assert.Equal(t, 7, back.VLAN)
	assert.Equal(t, a.IP, back.IP)
	assert.Equal(t, "vlan0123456789a", back.HostVeth)

	plain := a
	plain.VLAN, plain.Table = 0, datapath.MainTable
	res, err = BuildResult("1.0.0", plain)
	require.NoError(t, err)
	back, err = attachmentFromResult(res, "eth0")
	require.NoError(t, err)
	assert.Zero(t, back.VLAN, `a pod without a branch ENI has VLAN "0"`)
}

// ipamd's branch fields are checked before anything is built.
func TestBranchReplyIsValidated(t *testing.T) {
	_, err := branchFromReply(&rpc.AddNetworkReply{PodVlanId: 5000, PodENIMAC: "nope", PodENISubnetGW: "x", ParentIfIndex: 0})
	require.Error(t, err)
	for _, want := range []string{"PodVlanId 5000", `PodENIMAC "nope"`, `PodENISubnetGW "x"`, "ParentIfIndex 0"} {
		assert.Contains(t, err.Error(), want)
	}
	b, err := branchFromReply(&rpc.AddNetworkReply{PodVlanId: 3, PodENIMAC: "02:00:00:00:00:03", PodENISubnetGW: "10.0.1.1", ParentIfIndex: 4})
	require.NoError(t, err)
	assert.Equal(t, branchENI{VLAN: 3, MAC: b.MAC, Gateway: netip.MustParseAddr("10.0.1.1"), Parent: 4}, b)
	assert.Equal(t, "vlan", datapath.BranchVethPrefix("eni", datapath.EnforcingStrict))
	assert.Equal(t, "eni", datapath.BranchVethPrefix("eni", datapath.EnforcingStandard))
	assert.Equal(t, "vlan.eth.3", datapath.VLANLinkName(3))
}
