package enilabtest_test

import (
	"testing"

	"github.com/enilab/enilab/enilabtest"
	"github.com/enilab/enilab/node"
)

func TestMain(m *testing.M) { enilabtest.Main(m) }

// Two c5.large nodes with the VPC CNI's defaults (WARM_ENI_TARGET=1), five
// pods each: every node keeps a whole spare ENI's 9 addresses free, so 5
// pods leave 13 warm on 2 ENIs.
func TestTwoNodesTenPods(t *testing.T) {
	lab := enilabtest.New(t, enilabtest.Spec{Nodes: []node.Spec{
		{Name: "node-1", InstanceType: "c5.large"},
		{Name: "node-2", InstanceType: "c5.large"},
	}})
	for _, n := range lab.Nodes() {
		n.AddPods(5)
	}
	for _, n := range lab.Nodes() {
		lab.Eventually(n).Should(enilabtest.HaveReadyPods(5))
		lab.Eventually(n).Should(enilabtest.HaveENIs(2))
		lab.Eventually(n).Should(enilabtest.HaveWarmIPs(13))
	}
	lab.Eventually(lab.Pod("node-1/pod-1")).Should(enilabtest.BeReady())
}
