package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/enilab/enilab/cniplugin"
	"github.com/enilab/enilab/cniplugin/egress"
	"github.com/enilab/enilab/internal/awscli"
	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/internal/gobuild"
	"github.com/enilab/enilab/node"
	"github.com/enilab/enilab/scenario"
)

// enilabBinEnv names an enilab binary to drive instead of building one.
const enilabBinEnv = "ENILAB_BIN"

var (
	enilabOnce sync.Once
	enilabBin  string
	enilabErr  error
)

// enilab is the CLI under test: $ENILAB_BIN, else ./cmd/enilab built once
// for the suite (a `bin/enilab` left by an older `make build` could be
// stale).
func enilab() string {
	GinkgoHelper()
	enilabOnce.Do(func() {
		if enilabBin = os.Getenv(enilabBinEnv); enilabBin != "" {
			return
		}
		dir, err := os.MkdirTemp("", "enle-bin-")
		if err != nil {
			enilabErr = err
			return
		}
		enilabBin = filepath.Join(dir, "enilab")
		enilabErr = gobuild.Command(enilabBin, "../cmd/enilab")
	})
	Expect(enilabErr).NotTo(HaveOccurred())
	return enilabBin
}

// removeEnilabBin removes the binary the suite built (AfterSuite).
func removeEnilabBin() {
	if enilabBin != "" && os.Getenv(enilabBinEnv) == "" {
		_ = os.RemoveAll(filepath.Dir(enilabBin))
	}
}

// liveName is a fresh lab name in the suite's prefix family, checked for
// leftovers at the end of the suite like every lab's.
func liveName() string {
	prefixMu.Lock()
	defer prefixMu.Unlock()
	p := fmt.Sprintf("%s%x-live%d", prefixFamily, os.Getpid()&0xfff, len(prefixes)+1)
	prefixes = append(prefixes, p)
	return p
}

// cli runs enilab with args and returns stdout, stderr and the exit
// status; env, when set, replaces the environment, which is otherwise a
// user's (userEnv).
func cli(env []string, args ...string) (string, string, int) {
	GinkgoHelper()
	cmd := exec.Command(enilab(), args...)
	cmd.Env = env
	if env == nil {
		cmd.Env = userEnv()
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		Fail(fmt.Sprintf("enilab %v: %v", args, err))
	}
	fmt.Fprintf(GinkgoWriter, "$ enilab %s\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// userEnv is this process's environment without node.PluginDirEnv, which
// TestMain set for the suite's own labs (node.RunWithOwnPlugins): an enilab
// run by a user has no such directory.
func userEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, node.PluginDirEnv+"=") })
}

// liveStatus is what `enilab status --json LAB` prints (cmd/enilab/app).
type liveStatus struct {
	Name     string
	Phase    string
	PID      int
	Snapshot scenario.Snapshot
}

func statusOf(name string) liveStatus {
	GinkgoHelper()
	out, errOut, code := cli(nil, "status", "--json", name)
	Expect(code).To(Equal(0), errOut)
	var st liveStatus
	Expect(json.Unmarshal([]byte(out), &st)).To(Succeed())
	return st
}

func nodeOf(st liveStatus, name string) scenario.NodeState {
	GinkgoHelper()
	n, ok := st.Snapshot.Node(name)
	Expect(ok).To(BeTrue(), "node %s in the status", name)
	return n
}

// podsOf is the node's ready pods.
func podsOf(st liveStatus, nodeName string) []scenario.PodState {
	var out []scenario.PodState
	for _, p := range st.Snapshot.Pods {
		if p.Node == nodeName && p.Phase == node.PhaseReady {
			out = append(out, p)
		}
	}
	return out
}

// introspection is ipamd's /v1/enis: per network card, the pool and each
// ENI's addresses.
type introspection map[string]struct {
	TotalIPs, AssignedIPs int
	ENIs                  map[string]struct {
		DeviceNumber       int
		AvailableIPv4Cidrs map[string]json.RawMessage
	}
}

// supervisorGone waits until the lab's supervisor and run directory are
// gone and checks nothing of the lab remains.
func supervisorGone(name string, pid int) {
	GinkgoHelper()
	Eventually(func() error { return syscall.Kill(pid, 0) }).Should(MatchError(syscall.ESRCH), "supervisor %d exits", pid)
	Eventually(func() bool { _, err := os.Stat(filepath.Join("/run/enilab", name)); return os.IsNotExist(err) }).Should(BeTrue(), "run directory removed")
	Expect(node.Leftovers(name)).To(BeEmpty(), "lab %s left things behind", name)
}

// downOnFailure tears the lab down if the spec ends with it still up.
func downOnFailure(name string) {
	DeferCleanup(func() {
		if _, err := os.Stat(filepath.Join("/run/enilab", name)); err == nil {
			cli(nil, "down", name)
		}
	})
}

var _ = Describe("live labs", Label("live"), func() {
	It("stay up after `enilab up`, answer exec, status and step inside the node, and leave nothing after down", Label("fabric"), func() {
		if os.Getenv(node.BackendEnv) == node.BackendDummy {
			Skip("the tour pings between nodes, which dummy ENI links do not carry")
		}
		name := liveName()
		downOnFailure(name)
		out, errOut, code := cli(nil, "up", "../scenarios/tour.yaml", "--name", name, "--color", "never")
		Expect(code).To(Equal(0), "up: %s%s", out, errOut)
		Expect(out).To(ContainSubstring("PASSED all 13 steps ok"))
		for _, want := range []string{
			"lab " + name + " is up",
			"netns " + name + "-node-1",
			"enilab exec " + name + " node-1 -- ip rule",
			"enilab exec " + name + " node-1 -- curl -s 127.0.0.1:61679/v1/enis",
			"--endpoint-url http://169.254.169.250",
			"node-1/ipamd.log", "node-1/plugin.log",
			"enilab down " + name,
		} {
			Expect(out).To(ContainSubstring(want))
		}
		logs := regexp.MustCompile(`node logs \(until teardown\): (\S+)/NODE/`).FindStringSubmatch(out)
		Expect(logs).To(HaveLen(2), "up prints the node directory")
		Expect(os.Readlink(filepath.Join(logs[1], "node-1", "bin", cniplugin.ExecName))).To(Equal(enilab()),
			"an enilab without plugins of its build beside it re-executes itself as aws-cni")
		dir := filepath.Join("/run/enilab", name)
		for _, f := range []string{"pid", "state.json", "api.sock", "supervisor.log"} {
			Expect(filepath.Join(dir, f)).To(BeAnExistingFile())
		}
		lsOut, _, code := cli(nil, "ls")
		Expect(code).To(Equal(0))
		Expect(lsOut).To(MatchRegexp(`(?m)^%s +tour +2 +2 `, name))

		By("ipamd's introspection in the node agrees with the status figures")
		introspectionAgrees(name, "node-1")

		By("a step adds pods; status, ip rule and a pod's namespace show them")
		st := stepAddsPods(name)

		By("the AWS CLI in the node, with no credentials of its own, sees the node's ENIs")
		awsCLI(name, "node-2")

		By("down tears it all down")
		pid := st.PID
		out, errOut, code = cli(nil, "down", name)
		Expect(code).To(Equal(0), errOut)
		Expect(out).To(ContainSubstring("lab " + name + " is down"))
		supervisorGone(name, pid)
	})

	It("run the aws-cni and egress-cni that `make build` built beside enilab", Label("fabric"), func() {
		name := liveName()
		downOnFailure(name)
		// bin/ as `make build` leaves it: the commands, one build stamp.
		bin := GinkgoT().TempDir()
		Expect(gobuild.Stamped(bin, "e2e-one-build", "../cmd/enilab", "../cmd/aws-cni", "../cmd/egress-cni")).To(Succeed())
		file := filepath.Join(bin, "hold.yaml")
		Expect(os.WriteFile(file, []byte(`name: hold
vpc: {cidr: 10.0.0.0/16, subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]}
nodes: [{name: node-1, instanceType: c5.large, subnet: subnet-a}]
steps:
  - {pods: {node: node-1, add: 2}}
  - {expect: {node: node-1, readyPods: 2, within: 5m}}
  - {sleep: 1h}
`), 0o644)).To(Succeed())
		up := exec.Command(filepath.Join(bin, "enilab"), "up", file, "--name", name, "--color", "never",
			"--time-scale", strconv.FormatFloat(timeScale, 'g', -1, 64))
		up.Env = userEnv()
		session, err := gexec.Start(up, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session.Out).Should(gbytes.Say(`✓ step 2/3`), "the pods are set up")
		session.Kill()
		Eventually(session).Should(gexec.Exit())
		logs := regexp.MustCompile(`node logs \(until teardown\): (\S+)/NODE/`).FindStringSubmatch(string(session.Out.Contents()))
		Expect(logs).To(HaveLen(2), "up prints the node directory")
		for _, plugin := range []string{cniplugin.ExecName, egress.ExecName} {
			Expect(os.Readlink(filepath.Join(logs[1], "node-1", "bin", plugin))).To(Equal(filepath.Join(bin, plugin)),
				"the node runs the %s beside enilab", plugin)
		}
		st := statusOf(name)
		Expect(nodeOf(st, "node-1").ReadyPods).To(Equal(2))

		out, errOut, code := cli(nil, "down", name)
		Expect(code).To(Equal(0), errOut)
		Expect(out).To(ContainSubstring("lab " + name + " is down"))
		supervisorGone(name, st.PID)
	})

	It("outlive the `up` that started them, run with up's --cni-plugin and --time-scale, and SIGTERM to the supervisor leaves nothing", Label("dummy"), func() {
		name := liveName()
		downOnFailure(name)
		dir := GinkgoT().TempDir()
		file := filepath.Join(dir, "long.yaml")
		// The file's timeScale is 1; --time-scale gives the suite's.
		Expect(os.WriteFile(file, []byte(`name: long
timeScale: 1
vpc: {cidr: 10.0.0.0/16, subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]}
nodes: [{name: node-1, instanceType: c5.large, subnet: subnet-a}]
steps:
  - {pods: {node: node-1, add: 2}}
  - {sleep: 1h}
`), 0o644)).To(Succeed())
		// A plugin of the user's own: the lab binary under the plugin's
		// name (it serves the plugin by name).
		plugin := filepath.Join(dir, cniplugin.ExecName)
		Expect(os.Symlink(enilab(), plugin)).To(Succeed())
		up := exec.Command(enilab(), "up", file, "--name", name, "--color", "never",
			"--cni-plugin", plugin, "--time-scale", strconv.FormatFloat(timeScale, 'g', -1, 64))
		up.Env = userEnv()
		session, err := gexec.Start(up, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session.Out).Should(gbytes.Say(`▶ step 2/2 sleep`))
		session.Kill()
		Eventually(session).Should(gexec.Exit())
		Expect(string(session.Out.Contents())).To(ContainSubstring(fmt.Sprintf("timeScale %g ", timeScale)))
		logs := regexp.MustCompile(`node logs \(until teardown\): (\S+)/NODE/`).FindStringSubmatch(string(session.Out.Contents()))
		Expect(logs).To(HaveLen(2), "up prints the node directory")
		Expect(os.Readlink(filepath.Join(logs[1], "node-1", "bin", cniplugin.ExecName))).To(Equal(plugin), "the node runs --cni-plugin's binary")

		st := statusOf(name)
		Expect(st.Phase).To(Equal("steps"), "the supervisor still runs the file's steps")
		Expect(nodeOf(st, "node-1").ReadyPods + nodeOf(st, "node-1").PendingPods).To(Equal(2))
		data, err := os.ReadFile(filepath.Join("/run/enilab", name, "pid"))
		Expect(err).NotTo(HaveOccurred())
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		Expect(err).NotTo(HaveOccurred())
		Expect(pid).To(Equal(st.PID))
		Expect(node.Leftovers(name)).NotTo(BeEmpty(), "the lab's namespaces are still there")

		Expect(syscall.Kill(pid, syscall.SIGTERM)).To(Succeed())
		supervisorGone(name, pid)
	})
})

// introspectionAgrees checks ipamd's /v1/enis, fetched with curl inside
// the node, against the status figures (read again until ipamd's pool
// holds still between the two looks).
func introspectionAgrees(name, nodeName string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		st := statusOf(name)
		n := nodeOf(st, nodeName)
		out, errOut, code := cli(nil, "exec", name, nodeName, "--", "curl", "-s", "127.0.0.1:61679/v1/enis")
		g.Expect(code).To(Equal(0), errOut)
		var in introspection
		g.Expect(json.Unmarshal([]byte(out), &in)).To(Succeed(), out)
		enis, total, assigned := 0, 0, 0
		for _, card := range in {
			enis += len(card.ENIs)
			total += card.TotalIPs
			assigned += card.AssignedIPs
		}
		g.Expect([]int{enis, total, assigned}).To(Equal([]int{n.ENIs, n.TotalIPs, n.AssignedIPs}))
		for _, p := range podsOf(st, nodeName) {
			g.Expect(in["0"].ENIs[p.ENI].AvailableIPv4Cidrs).To(HaveKey(p.IP+"/32"), "pod %s on %s", p.Name, p.ENI)
		}
	}).Should(Succeed())

}

// stepAddsPods sends a bad step (refused, lab untouched), then 10 pods to
// node-2 and waits for them with a second step; status, ip rule and a
// pod's namespace show them, and exec passes a command's exit status on
// and names the nodes there are.
func stepAddsPods(name string) liveStatus {
	GinkgoHelper()
	_, errOut, code := cli(nil, "step", name, "{pods: {node: node-9, add: 1}}")
	Expect(code).To(Equal(2), "a bad step is a usage error")
	Expect(errOut).To(ContainSubstring(`unknown node "node-9" (did you mean`))
	Expect(errOut).To(ContainSubstring("refused the step, and is untouched:\nstep 14: pods.node: unknown node \"node-9\""))
	Expect(podsOf(statusOf(name), "node-2")).To(HaveLen(1))
	out, _, code := cli(nil, "step", name, "{pods: {node: node-2, add: 10}}")
	Expect(code).To(Equal(0))
	Expect(out).To(ContainSubstring("created node-2/pod-2 … pod-11"))
	out, _, code = cli(nil, "step", name, "{expect: {node: node-2, readyPods: 11, within: 2m}}")
	Expect(code).To(Equal(0), out)
	st := statusOf(name)
	n2 := nodeOf(st, "node-2")
	Expect(n2.ReadyPods).To(Equal(11))
	Expect(n2.ENIs).To(BeNumerically(">=", 2), "11 pods do not fit on the primary ENI's 9 addresses")
	rules, _, code := cli(nil, "exec", name, "node-2", "--", "ip", "rule")
	Expect(code).To(Equal(0))
	onSecondary := 0
	for _, p := range podsOf(st, "node-2") {
		// cniplugin's rules (upstream SetupPodNetwork): to the pod from
		// anywhere by the main table; from a pod on a secondary ENI by
		// that ENI's table.
		Expect(rules).To(ContainSubstring(fmt.Sprintf("%d:\tfrom all to %s lookup main", datapath.ToPodRulePriority, p.IP)), p.Name)
		if p.Device > 0 {
			onSecondary++
			Expect(rules).To(ContainSubstring(fmt.Sprintf("%d:\tfrom %s lookup %d", datapath.FromPodRulePriority, p.IP, datapath.ENITable(p.Device))), p.Name)
		}
	}
	Expect(onSecondary).To(BeNumerically(">=", 2))
	pod11, ok := func() (scenario.PodState, bool) {
		for _, p := range st.Snapshot.Pods {
			if p.Name == "node-2/pod-11" {
				return p, true
			}
		}
		return scenario.PodState{}, false
	}()
	Expect(ok).To(BeTrue())
	out, _, code = cli(nil, "exec", name, "node-2/pod-11", "--", "ip", "-4", "-o", "addr", "show", "dev", "eth0")
	Expect(code).To(Equal(0))
	Expect(out).To(ContainSubstring(pod11.IP + "/32"))
	_, _, code = cli(nil, "exec", name, "node-2", "--", "sh", "-c", "exit 7")
	Expect(code).To(Equal(7), "the command's exit status is exec's")
	_, errOut, code = cli(nil, "exec", name, "node-3", "--", "true")
	Expect(code).To(Equal(2))
	Expect(errOut).To(ContainSubstring(`no node "node-3" in the lab (did you mean`))

	return st
}

// awsCLI runs `aws ec2 describe-network-interfaces` inside the node with
// every AWS_* variable removed and an empty HOME: the credentials come
// from the node's IMDS (the instance role), as on an instance. Its ENIs and
// addresses are the status figures' (read again until ipamd's pool holds
// still between the two looks).
func awsCLI(name, nodeName string) {
	GinkgoHelper()
	bin := awscli.Path()
	if bin == "" {
		fmt.Fprintln(GinkgoWriter, "skipping the AWS CLI check: "+awscli.Missing)
		return
	}
	env := []string{"HOME=" + GinkgoT().TempDir()}
	for _, kv := range userEnv() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	Eventually(func(g Gomega) {
		st := statusOf(name)
		n := nodeOf(st, nodeName)
		out, errOut, code := cli(env, "exec", name, n.Name, "--", bin, "ec2", "describe-network-interfaces",
			"--endpoint-url", node.EC2Endpoint, "--region", "us-west-2", "--output", "json",
			"--filters", "Name=attachment.instance-id,Values="+n.InstanceID)
		g.Expect(code).To(Equal(0), errOut)
		var resp struct {
			NetworkInterfaces []struct {
				NetworkInterfaceID string `json:"NetworkInterfaceId"`
				PrivateIPAddresses []struct {
					PrivateIPAddress string `json:"PrivateIpAddress"`
				} `json:"PrivateIpAddresses"`
			}
		}
		g.Expect(json.Unmarshal([]byte(out), &resp)).To(Succeed(), out)
		g.Expect(resp.NetworkInterfaces).To(HaveLen(n.ENIs))
		addrs := map[string]string{}
		for _, e := range resp.NetworkInterfaces {
			for _, a := range e.PrivateIPAddresses {
				addrs[a.PrivateIPAddress] = e.NetworkInterfaceID
			}
		}
		for _, p := range podsOf(st, nodeName) {
			g.Expect(addrs).To(HaveKeyWithValue(p.IP, p.ENI), "pod %s", p.Name)
		}
	}).Should(Succeed())
}
