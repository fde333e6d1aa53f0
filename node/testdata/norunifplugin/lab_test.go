// Package norunifplugin is a test binary that builds a lab but forgets
// cniplugin.RunIfPlugin in its TestMain: node's plugin test compiles it to
// show that such a lab fails at once instead of re-executing itself.
package norunifplugin

import (
	"context"
	"testing"

	"github.com/enilab/enilab/node"
)

func TestBuildsALab(t *testing.T) {
	lab, err := node.NewLab(context.Background(), node.LabConfig{
		Prefix:  "enlt-norun",
		Subnets: []node.SubnetSpec{{ID: "subnet-a", CIDR: "10.0.1.0/24", AZ: "us-west-2a"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = lab.Close()
}
