package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/awscli"
)

// Each node's ipamd serves introspection on 127.0.0.1:61679 and metrics on
// :61678 inside the node's namespace, as aws-node (a host-network pod) does
// on an EKS node: two nodes use the same ports, each answering its own
// figures.
func TestIPAMDPortsInsideEachNode(t *testing.T) {
	l := churnLab(t)
	ctx := context.Background()
	for i, pods := range []int{0, 3} {
		n, err := l.AddNode(ctx, Spec{Name: fmt.Sprintf("node-%d", i+1), InstanceType: "c5.large"})
		require.NoError(t, err)
		require.NoError(t, n.AddPods(ctx, pods))
		waitAllReady(t, map[*Node]int{n: pods})
	}
	for _, n := range l.Nodes() {
		st, cards := enisWhileSteady(t, n)
		assert.Equal(t, st.TotalIPs, cards["0"].TotalIPs, "%s: /v1/enis TotalIPs", n.Name())
		assert.Equal(t, st.AssignedIPs, cards["0"].AssignedIPs, "%s: /v1/enis AssignedIPs", n.Name())

		metrics := string(getInNode(t, n, "http://127.0.0.1:61678/metrics"))
		assert.Contains(t, metrics, fmt.Sprintf("awscni_assigned_ip_addresses %d\n", st.AssignedIPs), n.Name())
	}
}

type eniCard struct{ TotalIPs, AssignedIPs int }

// enisWhileSteady reads /v1/enis between two reads of the node's status
// that agree, so a warm-pool top-up still under way (node-2's second ENI
// attaching after its pods are ready) is waited out rather than compared
// half-done. It gives up after a minute, real time.
func enisWhileSteady(t *testing.T, n *Node) (Status, map[string]eniCard) {
	t.Helper()
	for stop := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		before := n.Status()
		body := getInNode(t, n, "http://127.0.0.1:61679/v1/enis")
		var cards map[string]eniCard
		require.NoError(t, json.Unmarshal(body, &cards), "%s", body)
		if after := n.Status(); after == before || time.Now().After(stop) {
			return after, cards
		}
	}
}

func getInNode(t *testing.T, n *Node, url string) []byte {
	t.Helper()
	resp, err := n.HTTPClient().Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, b)
	return b
}

// The AWS CLI run on a node with no credentials anywhere finds the
// instance role's in IMDS, as on an EC2 instance, and reaches the lab's EC2
// endpoint from inside the node (ip netns exec, as an operator does).
func TestAWSCLIOnANodeUsesTheInstanceRole(t *testing.T) {
	cli := awscli.Path()
	if cli == "" {
		t.Skip(awscli.Missing)
	}
	l := churnLab(t)
	n, err := l.AddNode(context.Background(), Spec{Name: "node-1", InstanceType: "c5.large"})
	require.NoError(t, err)
	cmd := exec.Command("ip", "netns", "exec", n.NetNSName(), cli, "ec2", "describe-instances",
		"--endpoint-url", EC2Endpoint, "--query", "Reservations[].Instances[].InstanceId", "--output", "text")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_DEFAULT_REGION=us-west-2"}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, n.InstanceID(), strings.TrimSpace(string(out)))
}
