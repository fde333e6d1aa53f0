package scenario

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const fleetSrc = `
name: f
datapath: %TOP%
vpc:
  cidr: 10.0.0.0/16
  subnets:
    - {id: subnet-a, cidr: 10.0.0.0/16}
nodes:
  - {name: fleet, count: 300, instanceType: m5.large, subnet: subnet-a%ENTRY%}
steps:
  - {nodes: {group: fleet, add: 10}}
`

func fleetFile(top, entry string) string {
	return strings.NewReplacer("%TOP%", top, "%ENTRY%", entry).Replace(fleetSrc)
}

// datapath: none at the top makes every node a fleet node, and a fleet
// group may hold far more than 64 nodes.
func TestDatapathNoneAllowsLargeGroups(t *testing.T) {
	sc := parseOK(t, fleetFile("none", ""))
	assert.Equal(t, DatapathNone, sc.Datapath)
	require.Len(t, sc.Nodes, 300)
	assert.True(t, sc.IsFleet(sc.Nodes[0]))
	assert.True(t, sc.IsFleet(sc.Groups["fleet"]))
}

// A nodes entry's datapath wins over the file's.
func TestDatapathPerEntry(t *testing.T) {
	sc := parseOK(t, fleetFile("kernel", ", datapath: none"))
	assert.Equal(t, DatapathNone, sc.Nodes[0].Datapath)
	assert.True(t, sc.IsFleet(sc.Nodes[0]))
}

func TestDatapathProblems(t *testing.T) {
	ps := problems(t, fleetFile("kernel", ""))
	assert.Contains(t, ps.Error(), "at most 64 nodes per group (datapath kernel), got 300")
	ps = problems(t, fleetFile("ebpf", ""))
	assert.Contains(t, ps.Error(), `datapath: unknown datapath "ebpf"`)
}
