package scenario

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCNIPluginPerLabAndNodeGroup(t *testing.T) {
	src := strings.Replace(minimal, "nodes:\n", "cni: {plugin: upstream}\nnodes:\n", 1)
	src = strings.Replace(src, "labels: {team: x}}", "labels: {team: x}, cni: {plugin: ./my/aws-cni}}", 1)
	sc := parseOK(t, src)
	assert.Equal(t, CNIPluginUpstream, sc.CNI.Plugin)
	assert.Equal(t, "", sc.Nodes[0].CNIPlugin, "a group without cni: runs the lab's plugin")
	assert.Equal(t, "./my/aws-cni", sc.Nodes[2].CNIPlugin)

	require.NoError(t, sc.UseCNIPlugin(CNIPluginEnilab))
	assert.Equal(t, CNIPluginEnilab, sc.CNI.Plugin, "--cni-plugin replaces the file's choice")
	assert.Equal(t, "", sc.Nodes[2].CNIPlugin, "--cni-plugin is every node's plugin")
	assert.ErrorContains(t, sc.UseCNIPlugin("upstrem"), `did you mean "upstream"?`)
}

func TestParseCNIPluginProblems(t *testing.T) {
	src := strings.Replace(minimal, "nodes:\n", "cni: {plugin: aws, logLevel: debug}\nnodes:\n", 1)
	ps := problems(t, src)
	require.Len(t, ps, 2, "%v", ps)
	var fields, msgs []string
	for _, p := range ps {
		fields = append(fields, p.Field)
		msgs = append(msgs, p.Msg)
	}
	assert.Contains(t, fields, "cni.plugin")
	assert.Contains(t, strings.Join(msgs, "\n"), `unknown plugin "aws": want enilab, upstream or a path to an aws-cni binary`)
}

func TestOwnPluginOnlyWhenNoNodeNamesAnother(t *testing.T) {
	assert.True(t, parseOK(t, minimal).OwnPlugin())
	lab := parseOK(t, strings.Replace(minimal, "nodes:\n", "cni: {plugin: upstream}\nnodes:\n", 1))
	assert.False(t, lab.OwnPlugin(), "the lab's plugin is upstream's")
	group := parseOK(t, strings.Replace(minimal, "labels: {team: x}}", "labels: {team: x}, cni: {plugin: ./my/aws-cni}}", 1))
	assert.False(t, group.OwnPlugin(), "one node group runs another plugin")
	require.NoError(t, lab.UseCNIPlugin(CNIPluginEnilab))
	assert.True(t, lab.OwnPlugin())
}
