package scenario

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// groupFake is a fakeLab that starts nodes as one node group (groupLab),
// failing the one named fail.
type groupFake struct {
	*fakeLab
	fail string
}

func (g *groupFake) AddNodes(ctx context.Context, specs []NodeSpec) []error {
	names := make([]string, len(specs))
	errs := make([]error, len(specs))
	for i, s := range specs {
		names[i] = s.Name
		if s.Name == g.fail {
			errs[i] = errors.New("node: " + s.Name + ": namespace: file exists")
			continue
		}
		g.nodes = append(g.nodes, &fakeNode{spec: s})
	}
	g.calls = append(g.calls, "addNodes "+strings.Join(names, ","))
	return errs
}

const twoNodes = `name: group
vpc:
  cidr: 10.0.0.0/16
  subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]
nodes:
  - {name: node-1, instanceType: c5.large, subnet: subnet-a}
  - {name: node-2, instanceType: c5.large, subnet: subnet-a}
steps:
  - {pods: {node: node-2, add: 1}}
`

// A lab that starts node groups gets a file's nodes in one call, and a
// node of the group that fails still ends the run at that node.
func TestRunStartsTheFileNodesAsOneGroup(t *testing.T) {
	g := &groupFake{fakeLab: newFakeLab()}
	_, out, err := runFake(t, twoNodes, g.fakeLab, func(o *Options) {
		o.NewLab = func(context.Context, *Scenario, LabOptions) (Lab, error) { return g, nil }
	})
	require.NoError(t, err, out)
	assert.Equal(t, []string{"addNodes node-1,node-2"}, g.calls)
	assert.Contains(t, out, "node node-2 up")

	g = &groupFake{fakeLab: newFakeLab(), fail: "node-1"}
	_, out, err = runFake(t, twoNodes, g.fakeLab, func(o *Options) {
		o.NewLab = func(context.Context, *Scenario, LabOptions) (Lab, error) { return g, nil }
	})
	require.ErrorContains(t, err, "starting node node-1: node: node-1: namespace: file exists")
	assert.Contains(t, out, "node node-1 did not start")
	assert.NotContains(t, out, "node node-2 up")
}
