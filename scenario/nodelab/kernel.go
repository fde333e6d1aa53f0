package nodelab

import (
	"fmt"
	"strings"

	"github.com/enilab/enilab/ipamd/config"
	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
)

// KernelNeeds says what the scenario needs of the kernel that this one
// lacks (nil: nothing): pods with branch ENIs (securityGroupPolicies on a
// node with ENABLE_POD_ENI=true) need 8021q VLAN links. New refuses such
// a scenario at once, naming the kernel feature and `make vm-test`, rather
// than leaving its pods Pending; tests skip it with the same words.
func KernelNeeds(sc *scenario.Scenario) error {
	if len(sc.SecurityGroupPolicies) == 0 || node.VLANSupported() {
		return nil
	}
	enabled := func(env map[string]string) (bool, bool) {
		v, ok := env[config.EnvEnablePodENI]
		return strings.EqualFold(v, "true"), ok
	}
	lab, _ := enabled(sc.IPAMDEnv)
	for _, n := range sc.Nodes {
		on, set := enabled(n.IPAMDEnv)
		if on || (lab && !set) {
			return fmt.Errorf("scenario %s gives pods branch ENIs (securityGroupPolicies, %s=true on node %s): %w",
				sc.Name, config.EnvEnablePodENI, n.Name, node.ErrNoVLAN)
		}
	}
	return nil
}
