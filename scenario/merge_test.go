package scenario

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func shardReport(name, shard string, passed bool, node string, latMs int64) *Report {
	return &Report{
		Version: ReportVersion, Shard: shard, Scenario: name, Passed: passed,
		Nodes:  []NodeReport{{Name: node, ReadyPods: 1}},
		EC2:    EC2Report{Calls: map[string]int{"AssignPrivateIpAddresses": 2}, Errors: map[string]int{"RequestLimitExceeded": 1}, Throttled: 1},
		Pods:   PodsReport{Items: []PodReport{{Name: node + "/web-1", Node: node, Phase: "Running", ReadyLatencyMs: latMs}}},
		Series: Series{EC2: []EC2Second{{Action: "AssignPrivateIpAddresses", Second: 3, Calls: 2}}},
	}
}

// Shards of one run merge into one report: counters summed, latency
// percentiles over every shard's pods, failed if any shard failed.
func TestMergeReportsSumsShards(t *testing.T) {
	m, err := MergeReports([]*Report{
		shardReport("fleet", "0/2", true, "fleet-1", 1000),
		shardReport("fleet", "1/2", false, "fleet-2", 3000),
	})
	require.NoError(t, err)
	assert.Equal(t, ReportVersion, m.Version)
	assert.Equal(t, "fleet", m.Scenario)
	assert.Equal(t, []string{"0/2", "1/2"}, m.Shards)
	assert.False(t, m.Passed)
	assert.Equal(t, 4, m.EC2.Calls["AssignPrivateIpAddresses"])
	assert.Equal(t, 2, m.EC2.Errors["RequestLimitExceeded"])
	assert.Equal(t, 2, m.EC2.Throttled)
	assert.Equal(t, []EC2Second{{Action: "AssignPrivateIpAddresses", Second: 3, Calls: 4}}, m.Series.EC2)
	assert.Equal(t, Percentiles{P50: 1000, P90: 3000, P99: 3000, Max: 3000}, m.Pods.ReadyLatencyMs)
	assert.Equal(t, []string{"fleet-1", "fleet-2"}, []string{m.Nodes[0].Name, m.Nodes[1].Name})
}

// Variants that name the same nodes keep them apart by scenario name.
func TestMergeReportsPrefixesCollidingNodes(t *testing.T) {
	m, err := MergeReports([]*Report{shardReport("a", "", true, "node-1", 10), shardReport("b", "", true, "node-1", 20)})
	require.NoError(t, err)
	assert.Equal(t, "a + b", m.Scenario)
	assert.Equal(t, "a/node-1", m.Nodes[0].Name)
	assert.Equal(t, "b/node-1/web-1", m.Pods.Items[1].Name)
}

func TestMergeReportsRefusesNewerFormat(t *testing.T) {
	r := shardReport("a", "", true, "n", 1)
	r.Version = ReportVersion + 1
	_, err := MergeReports([]*Report{r})
	assert.ErrorContains(t, err, "format version 2")
	_, err = MergeReports(nil)
	assert.Error(t, err)
}
