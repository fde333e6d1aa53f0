package cniplugin

import (
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

// K8sArgs are the Kubernetes facts a runtime passes in CNI_ARGS.
type K8sArgs struct {
	PodName, PodNamespace, InfraContainerID, PodUID string
}

// ParseK8sArgs reads K8S_POD_NAME, K8S_POD_NAMESPACE,
// K8S_POD_INFRA_CONTAINER_ID and K8S_POD_UID from CNI_ARGS
// ("K=V;K=V"); other keys (IgnoreUnknown, …) are ignored. A pair without
// "=" is an error (code 4).
func ParseK8sArgs(args string) (K8sArgs, error) {
	var k K8sArgs
	for _, pair := range strings.Split(args, ";") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		key, val, ok := strings.Cut(pair, "=")
		if !ok {
			return k, types.NewError(types.ErrInvalidEnvironmentVariables,
				fmt.Sprintf("aws-cni: CNI_ARGS entry %q is not KEY=VALUE", pair), "")
		}
		switch strings.TrimSpace(key) {
		case "K8S_POD_NAME":
			k.PodName = val
		case "K8S_POD_NAMESPACE":
			k.PodNamespace = val
		case "K8S_POD_INFRA_CONTAINER_ID":
			k.InfraContainerID = val
		case "K8S_POD_UID":
			k.PodUID = val
		}
	}
	return k, nil
}
