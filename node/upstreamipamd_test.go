package node

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// UpstreamAgentEnv names an upstream aws-k8s-agent binary (`make
// upstream-agent`); TestUpstreamIPAMDPrototype runs only with it.
const upstreamAgentEnv = "ENILAB_UPSTREAM_AGENT"

// TestUpstreamIPAMDPrototype is the prototype of docs/upstream-ipamd.md:
// upstream's ipamd (aws-k8s-agent, VPC CNI v1.23.1 cmd/aws-k8s-agent) runs
// as the node's own daemon — the node's network namespace, the node's
// directory at /var/run/aws-node and /var/log/aws-routed-eni, EC2 through
// AWS_ENDPOINT_URL_EC2, credentials from the instance role on IMDS, no
// Kubernetes API server (v1.23.1's _main goes on without one when neither
// custom networking, pod ENIs nor pod annotations ask for it) — fills its
// warm pool from fakeec2 and answers an ADD of enilab's plugin. Run:
//
//	make upstream-agent
//	sudo ENILAB_UPSTREAM_AGENT=$PWD/bin/upstream/aws-k8s-agent go test -run TestUpstreamIPAMDPrototype -v ./node/
func TestUpstreamIPAMDPrototype(t *testing.T) {
	agent := os.Getenv(upstreamAgentEnv)
	if agent == "" {
		t.Skip("set " + upstreamAgentEnv + " to an upstream aws-k8s-agent (make upstream-agent) to run the prototype")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("upstream's ipamd needs an iptables binary")
	}
	l := fabricLab(t, "uipd", 0, nil)
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "m5.large"})
	require.NoError(t, err)

	out, err := os.Create(filepath.Join(n.dir, "aws-k8s-agent.out"))
	require.NoError(t, err)
	defer out.Close()
	cmd := exec.Command(agent)
	// The aws-node DaemonSet's environment (config/master/aws-k8s-cni.yaml)
	// with what its entrypoint (cmd/aws-vpc-cni) adds: IPv4 on, IPv6 off;
	// no network policy agent in a lab.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_ENDPOINT_URL_EC2=" + EC2Endpoint,
		"MY_NODE_NAME=" + n.name,
		"ENABLE_IPv4=true", "ENABLE_IPv6=false",
		"AWS_VPC_K8S_CNI_LOGLEVEL=DEBUG",
		"AWS_VPC_K8S_CNI_LOG_FILE=" + AWSNodeLogDir + "/ipamd.log",
		"AWS_VPC_ENI_MTU=9001", "WARM_ENI_TARGET=1", "WARM_PREFIX_TARGET=1",
		"ENABLE_SUBNET_DISCOVERY=true", "AWS_VPC_CNI_NODE_PORT_SUPPORT=true",
		"DISABLE_METRICS=true", "VPC_CNI_VERSION=v1.23.1",
	}
	if kc := os.Getenv("KUBECONFIG"); kc != "" {
		// An API server of the caller's (docs/upstream-ipamd.md): without
		// one v1.23.1 dereferences its nil client when the pool grows.
		cmd.Env = append(cmd.Env, "KUBECONFIG="+kc)
	}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, n.startInNode(cmd))
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			for _, f := range []string{"ipamd.log", "aws-k8s-agent.out"} {
				b, _ := os.ReadFile(filepath.Join(n.dir, f))
				t.Logf("%s (end):\n%s", f, tail(string(b), 3000))
			}
		}
	})

	// Its warm pool: WARM_ENI_TARGET=1 attaches and fills a second ENI.
	require.Eventually(t, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		return secondaryIPs(l, n.instanceID) >= 18
	}, 2*time.Minute, 100*time.Millisecond, "upstream ipamd fills its warm pool from fakeec2")
	select {
	case <-exited:
		t.Fatalf("aws-k8s-agent exited: %v", waitErr)
	default:
	}
	_, err = os.Stat(filepath.Join(n.dir, "ipamd.sock"))
	require.NoError(t, err, "upstream ipamd serves the node's /var/run/aws-node/ipamd.sock")

	require.NoError(t, n.AddPods(context.Background(), 1))
	assert.Eventually(t, func() bool { return n.Status().ReadyPods == 1 }, time.Minute, 20*time.Millisecond,
		"enilab's plugin gets an address from upstream's ipamd: %+v", n.Pods())
	t.Logf("pod: %+v", n.Pods())
}

// secondaryIPs counts the secondary addresses EC2 holds on the instance's
// ENIs.
func secondaryIPs(l *Lab, instanceID string) int {
	total := 0
	for _, e := range l.EC2().ENIs() {
		if e.InstanceID == instanceID {
			total += len(e.SecondaryIPs)
		}
	}
	return total
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[strings.LastIndex(s[:len(s)-n], "\n")+1:]
}
