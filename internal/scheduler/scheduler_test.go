package scheduler

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func m5large(name string, pods int) Node {
	return Node{Name: name, Ready: true, MaxPods: 29, Pods: pods, Labels: map[string]string{"group": "ng"}}
}

// Least-allocated spread (kube-scheduler's NodeResourcesFit score,
// LeastAllocated): the emptier node wins, so replicas alternate.
func TestScheduleSpreadsLeastAllocated(t *testing.T) {
	nodes := []Node{m5large("a", 2), m5large("b", 2)}
	placed := map[string]int{}
	for range 10 {
		name, err := Schedule(Pod{}, nodes)
		require.NoError(t, err)
		placed[name]++
		for i := range nodes {
			if nodes[i].Name == name {
				nodes[i].Pods++
			}
		}
	}
	assert.Equal(t, map[string]int{"a": 5, "b": 5}, placed)
	name, err := Schedule(Pod{}, []Node{m5large("a", 10), m5large("b", 3)})
	require.NoError(t, err)
	assert.Equal(t, "b", name)
}

// Max pods counts every bound pod, host-network ones included: two
// m5.large (29 each) with their two host-network pods take 54 more.
func TestScheduleTooManyPods(t *testing.T) {
	_, err := Schedule(Pod{}, []Node{m5large("a", 29), m5large("b", 29)})
	var fe *FitError
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, "0/2 nodes are available: 2 Too many pods. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.", err.Error())
}

// FitError.Error's histogram: reasons sorted as strings, the first failing
// filter per node (NodeAffinity before NodeResourcesFit).
func TestScheduleReasonsHistogram(t *testing.T) {
	other := m5large("c", 29)
	other.Labels = map[string]string{"group": "other"}
	notReady := m5large("d", 0)
	notReady.Ready = false
	_, err := Schedule(Pod{NodeSelector: map[string]string{"group": "ng"}}, []Node{m5large("a", 29), m5large("b", 29), other, notReady})
	require.Error(t, err)
	assert.Equal(t, "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 Too many pods. "+
		"preemption: 0/4 nodes are available: 2 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.", err.Error())
	_, err = Schedule(Pod{}, nil)
	assert.EqualError(t, err, "0/0 nodes are available.")
}

func TestScheduleNodeSelector(t *testing.T) {
	other := m5large("c", 0)
	other.Labels = map[string]string{"group": "other"}
	name, err := Schedule(Pod{NodeSelector: map[string]string{"group": "ng"}}, []Node{other, m5large("a", 20)})
	require.NoError(t, err)
	assert.Equal(t, "a", name)
	assert.True(t, Matches(nil, nil))
	assert.False(t, Matches(map[string]string{"k": "v"}, map[string]string{"k": "w"}))
}
