package cniplugin

import (
	"context"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// cmdStatus fails with code 50 when ipamd does not answer.
func (p *plugin) cmdStatus(args *skel.CmdArgs) error {
	s, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	b, err := p.dial(s.IPAMDSocket)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.IPAMDTimeout)
		err = b.Healthy(ctx)
		cancel()
		b.Close()
	}
	if err != nil {
		return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf(
			"aws-cni: ipamd is unreachable at %s (%v); pods cannot get addresses until ipamd (aws-node) runs", s.IPAMDSocket, err), "")
	}
	return nil
}
