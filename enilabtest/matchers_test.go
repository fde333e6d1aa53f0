package enilabtest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/enilabtest"
	"github.com/enilab/enilab/node"
)

// A matcher that does not hold says which figure and shows them all; a
// pod that does not exist is not ready.
func TestMatchersSayWhatDiffers(t *testing.T) {
	lab := enilabtest.New(t, enilabtest.Spec{Nodes: []node.Spec{{Name: "node-1", InstanceType: "c5.large"}}})
	n := lab.Node("node-1")
	lab.Eventually(n).Should(enilabtest.HaveWarmIPs(9))

	m := enilabtest.HaveWarmIPs(99)
	ok, err := m.Match(n)
	require.NoError(t, err)
	assert.False(t, ok)
	msg := m.FailureMessage(n)
	assert.Contains(t, msg, "Expected node-1 to have 99 warm IPs; its figures: {MaxPods:29 ENIs:1 TotalIPs:9 AssignedIPs:0 WarmIPs:9")

	ready := enilabtest.BeReady()
	ok, err = ready.Match(lab.Pod("node-1/pod-7"))
	require.NoError(t, err)
	assert.False(t, ok, "no such pod")
	assert.Equal(t, "Expected pod node-1/pod-7 to be ready; there is no such pod", ready.FailureMessage(lab.Pod("node-1/pod-7")))
	_, err = m.Match(lab.Pod("node-1/pod-7"))
	assert.EqualError(t, err, "want a *enilabtest.Node, got *enilabtest.Pod")

	n.AddPods(1)
	lab.Eventually(lab.Pod("node-1/pod-1")).Should(enilabtest.BeReady())
	lab.Eventually(n).Should(enilabtest.HaveAssignedIPs(1))
	n.DeletePod("node-1/pod-1")
	lab.Eventually(n).Should(enilabtest.HaveAssignedIPs(0))
}
