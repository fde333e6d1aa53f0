package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"
)

// The prototype of docs/upstream-ipamd.md runs only with both binaries:
// an upstream aws-k8s-agent (`make upstream-agent`) and the directory
// holding kube-apiserver and etcd (`make kube`).
const (
	upstreamAgentEnv = "ENILAB_UPSTREAM_AGENT"
	kubeBinEnv       = "ENILAB_KUBE_BIN"
)

// TestUpstreamIPAMDPrototype is the prototype of docs/upstream-ipamd.md:
// upstream's ipamd (aws-k8s-agent, VPC CNI v1.23.1 cmd/aws-k8s-agent) runs
// as the node's own daemon — the node's network namespace, the node's run
// directory at /var/run/aws-node and its lab directory at
// /var/log/aws-routed-eni, EC2 through
// AWS_ENDPOINT_URL_EC2, credentials from the instance role on IMDS, a real
// kube-apiserver (with etcd) in the node's namespace holding the Node
// object and upstream's CRDs — fills its warm pool from fakeec2
// (increaseDatastorePool, which needs the Node: isNodeNonSchedulable) and
// answers an ADD and a DEL of enilab's plugin (rpc_handler.go AddNetwork,
// DelNetwork). Run (as root):
//
//	make upstream-agent kube
//	ENILAB_UPSTREAM_AGENT=$PWD/bin/upstream/aws-k8s-agent ENILAB_KUBE_BIN=$PWD/bin/kube \
//	    go test -count=1 -run TestUpstreamIPAMDPrototype -v ./node/
func TestUpstreamIPAMDPrototype(t *testing.T) {
	agent, kubeBin := os.Getenv(upstreamAgentEnv), os.Getenv(kubeBinEnv)
	if agent == "" || kubeBin == "" {
		t.Skip("set " + upstreamAgentEnv + " to an upstream aws-k8s-agent (make upstream-agent) and " +
			kubeBinEnv + " to the directory of kube-apiserver and etcd (make kube) to run the prototype")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("upstream's ipamd needs an iptables binary")
	}
	crds := upstreamCRDs(t)
	l := fabricLab(t, "uipd", 0, nil)
	ctx := context.Background()
	n, err := l.AddNode(ctx, Spec{Name: "node-1", InstanceType: "m5.large"})
	require.NoError(t, err)

	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	kube, err := startKubeAPI(startCtx, n, kubeBin)
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			for name, log := range kube.Logs() {
				t.Logf("%s (end):\n%s", name, log)
			}
		}
		assert.NoError(t, kube.Close())
	})
	t.Logf("kube-apiserver ready %s after its launch", kube.Ready.Round(time.Millisecond))
	require.NoError(t, kube.InstallCRDs(startCtx, crds...))
	require.NoError(t, kube.RegisterNode(startCtx, kubeNode(n)))
	// The agent's kubeconfig in the node's run directory: /var/run/aws-node
	// in its view.
	require.NoError(t, kube.WriteKubeconfig(filepath.Join(n.runDir, "kubeconfig"), "system:serviceaccount:kube-system:aws-node"))
	kubeconfig := AWSNodeRunDir + "/kubeconfig"

	out, err := os.Create(filepath.Join(n.dir, "aws-k8s-agent.out"))
	require.NoError(t, err)
	defer out.Close()
	cmd := exec.Command(agent)
	// The aws-node DaemonSet's environment (config/master/aws-k8s-cni.yaml)
	// with what its entrypoint (cmd/aws-vpc-cni) adds: IPv4 on, IPv6 off;
	// no network policy agent in a lab. KUBECONFIG in place of the
	// in-cluster service account.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_ENDPOINT_URL_EC2=" + EC2Endpoint,
		"MY_NODE_NAME=" + n.name,
		"KUBECONFIG=" + kubeconfig,
		"ENABLE_IPv4=true", "ENABLE_IPv6=false",
		"AWS_VPC_K8S_CNI_LOGLEVEL=DEBUG",
		"AWS_VPC_K8S_CNI_LOG_FILE=" + AWSNodeLogDir + "/ipamd.log",
		"AWS_VPC_ENI_MTU=9001", "WARM_ENI_TARGET=1", "WARM_PREFIX_TARGET=1",
		"ENABLE_SUBNET_DISCOVERY=true", "AWS_VPC_CNI_NODE_PORT_SUPPORT=true",
		"DISABLE_METRICS=true", "VPC_CNI_VERSION=v1.23.1",
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
	running := func() bool {
		select {
		case <-exited:
			return false
		default:
			return true
		}
	}

	// Its warm pool: WARM_ENI_TARGET=1 wants one ENI's worth of free
	// addresses (isDatastorePoolTooLow: available < 1 × 9 on an m5.large),
	// which the primary ENI's 9 secondaries give once assigned — growing
	// the pool from 0 goes through isNodeNonSchedulable, the Node lookup
	// that panics without an API server. EC2 and the agent's own
	// introspection (curl 127.0.0.1:61679/v1/enis on the node) both say so.
	const perENI = 9
	require.Eventually(t, func() bool {
		return !running() || (secondaryIPs(l, n.instanceID) >= perENI && agentENIs(n).TotalIPs >= perENI)
	}, 2*time.Minute, 100*time.Millisecond, "upstream ipamd fills its warm pool from fakeec2")
	require.True(t, running(), "aws-k8s-agent exited: %v", waitErr)
	_, err = os.Stat(filepath.Join(n.runDir, "ipamd.sock"))
	require.NoError(t, err, "upstream ipamd serves the node's /var/run/aws-node/ipamd.sock")

	// One ADD from enilab's plugin (its ClientVersion is the agent's
	// version: make upstream-agent builds it so).
	require.NoError(t, n.AddPods(ctx, 1))
	require.Eventually(t, func() bool { return n.Status().ReadyPods == 1 }, time.Minute, 20*time.Millisecond,
		"enilab's plugin gets an address from upstream's ipamd: %+v", n.Pods())
	pod := n.Pods()[0]
	t.Logf("pod: %s %s on %s", pod.Name, pod.IP, pod.ENI)
	require.NoError(t, n.CheckPod(ctx, pod.Name), "the pod's namespace is wired")
	assert.Contains(t, instanceSecondaryIPs(l, n.instanceID), pod.IP.String(), "the pod's address is one EC2 assigned to the node")
	assert.Equal(t, 1, agentENIs(n).AssignedIPs, "upstream ipamd counts the pod's address as assigned")

	// With one address taken, 8 free < 9: the agent attaches and fills a
	// second ENI (increaseDatastorePool → tryAllocateENI), which the lab
	// hot-plugs into the node.
	require.Eventually(t, func() bool {
		return !running() || (secondaryIPs(l, n.instanceID) >= 2*perENI && agentENIs(n).TotalIPs >= 2*perENI)
	}, 2*time.Minute, 100*time.Millisecond, "upstream ipamd attaches a second ENI from fakeec2")
	require.True(t, running(), "aws-k8s-agent exited: %v", waitErr)

	require.NoError(t, n.DeletePod(ctx, pod.Name))
	assert.Eventually(t, func() bool { return agentENIs(n).AssignedIPs == 0 }, 30*time.Second, 20*time.Millisecond,
		"upstream ipamd releases the address on DEL")
	assert.True(t, running(), "aws-k8s-agent still runs: %v", waitErr)
	logAgentMilestones(t, filepath.Join(n.dir, "ipamd.log"))
}

// agentMilestones are the lines of upstream's ipamd.log that tell the
// prototype's story (the first of each is logged): API server, Node,
// schedulability, ENI, ADD, DEL.
var agentMilestones = []string{
	"Successful communication with the Cluster", "Get Node Info", "Node found",
	"Created a new ENI", "Send AddNetworkReply", "Send DelNetworkReply",
}

func logAgentMilestones(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("ipamd.log: %v", err)
		return
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		for _, m := range agentMilestones {
			if !seen[m] && strings.Contains(line, m) {
				seen[m] = true
				t.Logf("ipamd.log: %s", line)
			}
		}
	}
}

// agentPool is the part of upstream's introspection /v1/enis (a map from
// network card to datastore.ENIInfos) the prototype reads, for card 0.
type agentPool struct{ TotalIPs, AssignedIPs int }

// agentENIs asks the agent on n, as `curl http://127.0.0.1:61679/v1/enis`
// on the node would; zero while it does not answer.
func agentENIs(n *Node) agentPool {
	resp, err := n.HTTPClient().Get("http://127.0.0.1:61679/v1/enis")
	if err != nil {
		return agentPool{}
	}
	defer resp.Body.Close()
	var cards map[string]agentPool
	if json.NewDecoder(resp.Body).Decode(&cards) != nil {
		return agentPool{}
	}
	return cards["0"]
}

// upstreamCRDs returns the CRD files of the pinned upstream modules, read
// where the module cache holds them (make upstream-agent downloads them):
// ENIConfig from the VPC CNI's chart, CNINode from the resource
// controller's config. Versions come from tools/upstream/go.mod.
func upstreamCRDs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../tools/upstream/go.mod")
	require.NoError(t, err)
	mf, err := modfile.Parse("tools/upstream/go.mod", b, nil)
	require.NoError(t, err)
	version := map[string]string{}
	for _, r := range mf.Require {
		version[r.Mod.Path] = r.Mod.Version
	}
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		require.NoError(t, err, "go env GOMODCACHE")
		cache = strings.TrimSpace(string(out))
	}
	var files []string
	for _, f := range []struct{ mod, path string }{
		{"github.com/aws/amazon-vpc-cni-k8s", "charts/aws-vpc-cni/crds/customresourcedefinition.yaml"},
		{"github.com/aws/amazon-vpc-resource-controller-k8s", "config/crd/bases/vpcresources.k8s.aws_cninodes.yaml"},
	} {
		require.NotEmpty(t, version[f.mod], "tools/upstream/go.mod requires no %s", f.mod)
		p := filepath.Join(cache, f.mod+"@"+version[f.mod], f.path)
		_, err := os.Stat(p)
		require.NoError(t, err, "upstream's CRD is read from the module cache: run make upstream-agent first")
		files = append(files, p)
	}
	return files
}

// secondaryIPs counts the secondary addresses EC2 holds on the instance's
// ENIs.
func secondaryIPs(l *Lab, instanceID string) int { return len(instanceSecondaryIPs(l, instanceID)) }

// instanceSecondaryIPs lists them.
func instanceSecondaryIPs(l *Lab, instanceID string) []string {
	var out []string
	for _, e := range l.EC2().ENIs() {
		if e.InstanceID == instanceID {
			for _, ip := range e.SecondaryIPs {
				out = append(out, fmt.Sprint(ip))
			}
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[strings.LastIndex(s[:len(s)-n], "\n")+1:]
}
