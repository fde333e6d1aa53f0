package app

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/scenario"
)

func TestShardFlag(t *testing.T) {
	var s shard
	require.NoError(t, s.Set("1/3"))
	assert.Equal(t, "1/3", s.String())
	assert.Equal(t, []bool{false, true, false, false, true}, []bool{s.picks(0), s.picks(1), s.picks(2), s.picks(3), s.picks(4)})
	for _, bad := range []string{"3/3", "-1/2", "1", "a/b", "0/0"} {
		assert.Error(t, s.Set(bad), bad)
	}
	assert.True(t, shard{}.picks(7), "no --shard runs everything")
}

// report merge reads the shards' JSON and writes one versioned report.
func TestReportMerge(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i, shardName := range []string{"0/2", "1/2"} {
		r := &scenario.Report{Version: scenario.ReportVersion, Shard: shardName, Scenario: "fleet", Passed: true,
			EC2: scenario.EC2Report{Calls: map[string]int{"CreateNetworkInterface": 3}, Throttled: i}}
		var b bytes.Buffer
		require.NoError(t, r.WriteJSON(&b))
		f := filepath.Join(dir, shardName[:1]+".json")
		require.NoError(t, os.WriteFile(f, b.Bytes(), 0o644))
		files = append(files, f)
	}
	var out bytes.Buffer
	require.NoError(t, report(append([]string{"merge"}, files...), &out))
	var m scenario.Report
	require.NoError(t, json.Unmarshal(out.Bytes(), &m))
	assert.Equal(t, scenario.ReportVersion, m.Version)
	assert.Equal(t, []string{"0/2", "1/2"}, m.Shards)
	assert.Equal(t, 6, m.EC2.Calls["CreateNetworkInterface"])
	assert.Equal(t, 1, m.EC2.Throttled)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "new.json"), []byte(`{"version": 9, "scenario": "x"}`), 0o644))
	err := report([]string{"merge", filepath.Join(dir, "new.json")}, &out)
	assert.ErrorContains(t, err, "format version 9")
	assert.Error(t, report([]string{"split"}, &out))
}
