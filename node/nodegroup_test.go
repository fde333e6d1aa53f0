package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func groupLabConfig(noIPAMD bool) LabConfig {
	return LabConfig{
		Seed:      7,
		TimeScale: 0.01,
		Subnets:   []SubnetSpec{{ID: "subnet-a", CIDR: "10.0.0.0/20", AZ: "us-west-2a"}},
		Backend:   BackendVeth,
		noIPAMD:   noIPAMD,
	}
}

// groupLayout is what EC2 handed each node of a group: per node, its ENIs
// by device index with their IDs, MACs and addresses.
func groupLayout(l *Lab, nodes []*Node) []string {
	var out []string
	for _, n := range nodes {
		var enis []string
		for _, e := range l.EC2().ENIs() {
			if e.InstanceID != n.InstanceID() {
				continue
			}
			enis = append(enis, fmt.Sprintf("%d %s %s %s %v", e.DeviceIndex, e.ID, e.MAC, e.PrimaryIP, e.SecondaryIPs))
		}
		slices.Sort(enis)
		out = append(out, n.Name()+" "+n.InstanceID()+": "+strings.Join(enis, "; "))
	}
	return out
}

// TestAddNodesHandsOutAddressesInOrder: a node group's nodes boot at once,
// yet each ipamd's EC2 calls wait for the node before it, so the same seed
// gives every node the same instance, ENIs and addresses, run after run
// (upstream's nodeInit and its warm-pool fill through
// tryAllocateENI/tryAssignIPs are what each ipamd calls).
func TestAddNodesHandsOutAddressesInOrder(t *testing.T) {
	specs := make([]Spec, 4)
	for i := range specs {
		specs[i] = Spec{Name: fmt.Sprintf("node-%d", i+1), InstanceType: "m5.large"}
	}
	var layouts [][]string
	for run := range 3 {
		l := testLab(t, fmt.Sprintf("grp%d", run), groupLabConfig(false))
		nodes, errs := l.AddNodes(context.Background(), specs)
		for i, err := range errs {
			require.NoError(t, err, specs[i].Name)
		}
		layout := groupLayout(l, nodes)
		for _, n := range layout {
			// ipamd filled the warm pool (AssignPrivateIpAddresses):
			// its own EC2 writes are in the layout.
			require.NotContains(t, n, "[]", "every node has its warm secondary addresses")
		}
		layouts = append(layouts, layout)
		require.NoError(t, l.Close())
	}
	assert.Equal(t, layouts[0], layouts[1], "second run")
	assert.Equal(t, layouts[0], layouts[2], "third run")
}

// TestAddNodesFailureStopsOnlyItsNode: a spec that cannot start fails
// alone; the group's other nodes come up.
func TestAddNodesFailureStopsOnlyItsNode(t *testing.T) {
	l := testLab(t, "grpf", groupLabConfig(true))
	nodes, errs := l.AddNodes(context.Background(), []Spec{
		{Name: "a", InstanceType: "m5.large"},
		{Name: "b", InstanceType: "m5.large", Subnet: "subnet-nope"},
		{Name: "a", InstanceType: "m5.large"},
		{Name: "c", InstanceType: "m5.large"},
	})
	require.NoError(t, errs[0])
	assert.ErrorContains(t, errs[1], `node b: unknown subnet "subnet-nope"`)
	assert.ErrorContains(t, errs[2], `node "a" already exists`)
	require.NoError(t, errs[3])
	assert.Nil(t, nodes[1])
	assert.Nil(t, nodes[2])
	names := []string{}
	for _, n := range l.Nodes() {
		names = append(names, n.Name())
	}
	assert.Equal(t, []string{"a", "c"}, names)
}

// TestAddNodeSameNameAtOnce: of two nodes of one name started at once,
// one comes up and the other is refused for its name (reserveIndex holds
// the name from the start, not from the launch).
func TestAddNodeSameNameAtOnce(t *testing.T) {
	l := testLab(t, "grpn", groupLabConfig(true))
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := l.AddNode(context.Background(), Spec{Name: "twin", InstanceType: "m5.large"})
			errs <- err
		}()
	}
	var failed []error
	for range 2 {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	require.Len(t, failed, 1)
	assert.ErrorContains(t, failed[0], `node "twin" already exists`)
	assert.Len(t, l.Nodes(), 1)
}
