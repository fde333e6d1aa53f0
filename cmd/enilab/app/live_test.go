package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/internal/clock"
	"github.com/enilab/enilab/internal/nsutil"
	"github.com/enilab/enilab/scenario"
	"github.com/enilab/enilab/scenario/nodelab"
)

func TestParseExecArgs(t *testing.T) {
	a, err := parseExecArgs([]string{"lab", "node-1", "--", "ip", "rule", "-h"})
	require.NoError(t, err)
	assert.Equal(t, execArgs{lab: "lab", target: "node-1", cmd: []string{"ip", "rule", "-h"}}, a)
	a, err = parseExecArgs([]string{"lab", "node-1/pod-3", "ip", "addr"})
	require.NoError(t, err, "the -- may be left out")
	assert.Equal(t, []string{"ip", "addr"}, a.cmd)
	assert.Equal(t, "node-1/pod-3", a.target)
	for args, want := range map[string]string{
		"lab":                  "want LAB NODE -- COMMAND",
		"lab node-1":           "want LAB NODE -- COMMAND",
		"lab node-1 --":        "no command after --",
		"lab -- ip rule":       "want LAB NODE -- COMMAND",
		"lab node-1 x -- ip r": "want LAB NODE -- COMMAND",
	} {
		_, err := parseExecArgs(strings.Fields(args))
		assert.ErrorContains(t, err, want, args)
	}
	// An exec's command may have a -h of its own.
	assert.False(t, wantsHelp([]string{"lab", "node-1", "--", "ls", "-h"}))
	assert.True(t, wantsHelp([]string{"-h"}))
}

func TestParseUpFlags(t *testing.T) {
	f, file, err := parseUpFlags("up", []string{"scenarios/Tour_Big.yaml", "--report", "r.json"})
	require.NoError(t, err)
	assert.Equal(t, "scenarios/Tour_Big.yaml", file)
	assert.Equal(t, "r.json", f.report)
	assert.Regexp(t, `^tour-big-[0-9a-f]{4}$`, f.name, "default: the file's name and a random suffix")
	f, _, err = parseUpFlags("up", []string{"--prefix", "mylab", "x.yaml"})
	require.NoError(t, err)
	assert.Equal(t, "mylab", f.name, "--prefix names the lab too")
	f, _, err = parseUpFlags("up", []string{"--prefix", "p", "x.yaml", "--name", "n1"})
	require.NoError(t, err)
	assert.Equal(t, "n1", f.name)
	assert.Regexp(t, `^[a-z0-9-]{1,19}-[0-9a-f]{4}$`, defaultName("/x/"+strings.Repeat("Long.Name", 9)+".yaml"))
	assert.Regexp(t, `^lab-[0-9a-f]{4}$`, defaultName("___.yaml"))

	_, _, err = parseUpFlags("up", []string{"x.yaml", "--name", "Bad_Name"})
	assert.ErrorContains(t, err, `lab name "Bad_Name": want lower-case letters, digits and '-', at most 24 characters`)
	_, _, err = parseUpFlags("up", []string{"x.yaml", "y.yaml"})
	assert.ErrorContains(t, err, "up: name exactly one scenario file")
	_, _, err = parseUpFlags("up", []string{"x.yaml", "--keep"})
	assert.ErrorContains(t, err, "flag provided but not defined: -keep")

	assert.Equal(t, []string{"x.yaml", "--prefix", "p"}, withoutKeep([]string{"--keep", "x.yaml", "--prefix", "p", "-keep=true"}))
	_, _, code := run(noLab, "run", "--keep", "x.yaml", "--prefix", "Bad_Name")
	assert.Equal(t, ExitUsage, code, "run --keep is up: its name is checked")
}

// liveRootFor points the run directories at a temporary directory.
func liveRootFor(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(LiveRootEnv, dir)
	return dir
}

// fakeSupervisor is a process whose command line reads like a lab's
// supervisor (`… __supervise … NAME`); it lives until the test ends.
func fakeSupervisor(t *testing.T, name string) int {
	t.Helper()
	// The shell waits in its builtin read on a pipe left open: with a
	// command to run instead (sleep), dash would exec it in its own place
	// and the arguments that name the supervisor would leave cmdline.
	// The pipe's write end is held until the test ends: dropped, the
	// garbage collector's finalizer would close it, the read would end
	// and the shell with it.
	cmd := exec.Command("/bin/sh", "-c", "read _", superviseCmd, name)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = stdin.Close()
	})
	// Right after the exec, /proc/PID/cmdline can still read empty.
	require.Eventually(t, func() bool { return isSupervisor(cmd.Process.Pid, name) }, 5*time.Second, time.Millisecond,
		"the fake supervisor's command line")
	return cmd.Process.Pid
}

// plantLab writes a run directory as a supervisor would.
func plantLab(t *testing.T, name string, pid int) {
	t.Helper()
	require.NoError(t, os.MkdirAll(runDir(name), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(runDir(name), pidFile), []byte(fmt.Sprintln(pid)), 0o644))
	require.NoError(t, writeState(&labState{Name: name, Scenario: "tour", PID: pid, Started: time.Now().Add(-time.Minute),
		Nodes: []nodelab.NodeInside{
			{Name: "node-1", NetNS: name + "-node-1", NetNSPath: "/run/netns/" + name + "-node-1", Pods: []nodelab.PodInside{
				{Name: "node-1/pod-1", NetNS: name + "-node-1-pod-1", NetNSPath: "/run/netns/" + name + "-node-1-pod-1"},
				{Name: "node-1/pod-2"},
			}},
			{Name: "node-2", NetNS: name + "-node-2", NetNSPath: "/run/netns/" + name + "-node-2", Pods: []nodelab.PodInside{}},
		}}))
}

// The run directory: a lab is live while its supervisor runs, stale once
// it is gone (a pid reused by another process does not count); ls shows
// both, names are found with a did-you-mean.
func TestRunDirectoryState(t *testing.T) {
	liveRootFor(t)
	_, _, code := run(noLab, "ls")
	require.Equal(t, ExitOK, code)

	plantLab(t, "enlt-live", fakeSupervisor(t, "enlt-live"))
	plantLab(t, "enlt-dead", os.Getpid()) // alive, but not a supervisor
	l, err := readLab("enlt-live")
	require.NoError(t, err)
	assert.True(t, l.alive)
	require.NotNil(t, l.state)
	assert.Equal(t, "tour", l.state.Scenario)
	l, err = readLab("enlt-dead")
	require.NoError(t, err)
	assert.False(t, l.alive)

	out, _, code := run(noLab, "ls")
	require.Equal(t, ExitOK, code)
	assert.Regexp(t, `(?m)^enlt-live +tour +2 +2 +1m\d+s +\d+$`, out)
	assert.Regexp(t, `(?m)^enlt-dead +tour +2 +2 +1m\d+s +\d+ \(gone: .enilab down enlt-dead. cleans up\)$`, out)

	_, errOut, code := run(noLab, "status", "enlt-lve")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, `no live lab "enlt-lve" (did you mean "enlt-live"?)`)
	_, errOut, code = run(noLab, "exec", "enlt-dead", "node-1", "--", "true")
	assert.Equal(t, ExitLab, code)
	assert.Contains(t, errOut, "lab enlt-dead is not up")
	_, errOut, code = run(noLab, "step", "nothing", "{sleep: 1s}")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, `no live lab "nothing"`)

	// A name already live is refused, and so is one that overlaps it.
	err = claimName("enlt-live", io.Discard)
	assert.ErrorContains(t, err, "lab enlt-live is already up")
	err = claimName("enlt-live-2", io.Discard)
	assert.ErrorContains(t, err, "overlaps the live lab enlt-live")
	require.NoError(t, claimName("enlt-new", io.Discard))
	assert.DirExists(t, runDir("enlt-new"))
	assert.ErrorContains(t, claimName("enlt-new", io.Discard), "being started by another")
}

// exec finds namespaces by name in state.json and says which names exist.
func TestExecFindsNamespaces(t *testing.T) {
	liveRootFor(t)
	plantLab(t, "enlt-x", 1)
	l, _ := readLab("enlt-x")
	p, err := nsPath(l.state, "node-2")
	require.NoError(t, err)
	assert.Equal(t, "/run/netns/enlt-x-node-2", p)
	p, err = nsPath(l.state, "node-1/pod-1")
	require.NoError(t, err)
	assert.Equal(t, "/run/netns/enlt-x-node-1-pod-1", p)
	for target, want := range map[string]string{
		"node-3":       `no node "node-3" in the lab (did you mean "node-1"?)`,
		"web":          `no node "web" in the lab (nodes: node-1, node-2)`,
		"node-1/pod-7": `no pod "node-1/pod-7" in the lab (did you mean "node-1/pod-1"?)`,
		"node-2/pod-1": `no pod "node-2/pod-1" in the lab: node-2 has no pods; add some with`,
		"node-1/pod-2": "pod node-1/pod-2 has no network namespace (it was rejected",
	} {
		_, err := nsPath(l.state, target)
		assert.ErrorContains(t, err, want, target)
	}
}

// liveFake is the smallest scenario.Lab: pods get ready at once.
type liveFake struct {
	mu   sync.Mutex
	pods map[string]int
}

func (f *liveFake) Clock() clock.Clock { return clock.NewScaled(0.001, time.Unix(0, 0)) }
func (f *liveFake) AddNode(_ context.Context, s scenario.NodeSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pods[s.Name] = 0
	return nil
}
func (f *liveFake) AddPods(_ context.Context, node string, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pods[node] += n
	return nil
}
func (f *liveFake) DeletePods(_ context.Context, node string, n int) error {
	return f.AddPods(context.Background(), node, -n)
}
func (f *liveFake) RestartIPAMD(context.Context, string, map[string]string) error { return nil }
func (f *liveFake) Ping(context.Context, string, string) error                    { return nil }
func (f *liveFake) Curl(context.Context, string, string) (string, error)          { return "", nil }
func (f *liveFake) BreakRule(context.Context, string) error                       { return nil }
func (f *liveFake) FixRule(context.Context, string) error                         { return nil }
func (f *liveFake) Checkpoint(context.Context, string, string) error              { return nil }
func (f *liveFake) AddFault(scenario.Fault) (string, error)                       { return "f", nil }
func (f *liveFake) Close() error                                                  { return nil }
func (f *liveFake) Snapshot() scenario.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return scenario.Snapshot{Nodes: []scenario.NodeState{{Name: "node-1", ReadyPods: f.pods["node-1"], ENIs: 1}}}
}

// The supervisor's API: status while up; a bad step is a 400 naming the
// problem and changes nothing; a good one streams its timeline and ends
// with the result trailer.
func TestSupervisorAPI(t *testing.T) {
	liveRootFor(t)
	require.NoError(t, os.MkdirAll(runDir("enlt-api"), 0o755))
	sc, err := scenario.Parse("api.yaml", []byte(`
vpc: {cidr: 10.0.0.0/16, subnets: [{id: subnet-a, cidr: 10.0.1.0/24}]}
nodes: [{name: node-1, instanceType: c5.large, subnet: subnet-a}]
steps: [{pods: {node: node-1, add: 1}}]
`))
	require.NoError(t, err)
	lab := &liveFake{pods: map[string]int{}}
	newLab := func(context.Context, *scenario.Scenario, scenario.LabOptions) (scenario.Lab, error) { return lab, nil }
	sess, _, err := scenario.Start(context.Background(), sc, scenario.Options{NewLab: newLab, Poll: time.Millisecond})
	require.NoError(t, err)
	defer sess.Close()
	s := &supervisor{name: "enlt-api", sess: sess, downReq: make(chan struct{}), state: labState{Name: "enlt-api", Scenario: "api", PID: 42}}
	srv := httptest.NewServer(s.routes())
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/step", "text/plain", strings.NewReader("{pods: {node: node-1, add: 2}}"))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusConflict, resp.StatusCode, "no step before the file's are done: %s", body)

	require.NoError(t, sess.RunSteps(context.Background()))
	s.result = &stepsResult{}

	var st liveStatus
	getJSON(t, srv.URL+"/status", &st)
	assert.Equal(t, "up", st.Phase)
	require.NotNil(t, st.Snapshot)
	assert.Equal(t, 1, st.Snapshot.Nodes[0].ReadyPods)

	resp, err = http.Post(srv.URL+"/step", "text/plain", strings.NewReader("{pods: {node: node-2, add: 2}}"))
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), `unknown node "node-2" (did you mean "node-1"?)`)
	getJSON(t, srv.URL+"/status", &st)
	assert.Equal(t, 1, st.Snapshot.Nodes[0].ReadyPods, "a refused step leaves the lab untouched")

	resp, err = http.Post(srv.URL+"/step", "text/plain", strings.NewReader("{pods: {node: node-1, add: 2}}"))
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "✓ step 2/2 (")
	assert.Contains(t, string(body), "created node-1/pod-2 … pod-3")
	assert.Equal(t, "ok", resp.Trailer.Get(resultTrailer))

	resp, err = http.Post(srv.URL+"/step", "text/plain", strings.NewReader("{expect: {node: node-1, readyPods: 7, within: 1s}}"))
	require.NoError(t, err)
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "failed", resp.Trailer.Get(resultTrailer))

	resp, err = http.Post(srv.URL+"/down", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	select {
	case <-s.downReq:
	default:
		t.Fatal("down did not reach the supervisor")
	}
	getJSON(t, srv.URL+"/status", &st)
	assert.Equal(t, "down", st.Phase)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	require.NoError(t, json.Unmarshal(b.Bytes(), v), b.String())
}

// A run directory whose supervisor is gone is stale: down sweeps it (its
// namespaces, temp dirs and the directory), and so does sweep without a
// prefix; a live lab is never swept.
func TestStaleLabsAreCleaned(t *testing.T) {
	liveRootFor(t)
	dead := exec.Command("/bin/true")
	require.NoError(t, dead.Run())
	plantLab(t, "enlt-stale1", dead.Process.Pid)
	plantLab(t, "enlt-live", fakeSupervisor(t, "enlt-live"))

	out, errOut, code := run(noLab, "down", "enlt-stale1")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "lab enlt-stale1 was not running (supervisor gone); swept what it left")
	assert.NoDirExists(t, runDir("enlt-stale1"))

	if !nsutil.IsRoot() {
		t.Skip("sweep needs root")
	}
	plantLab(t, "enlt-stale2", dead.Process.Pid)
	out, errOut, code = run(noLab, "sweep")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "removed the stale live lab enlt-stale2")
	assert.Contains(t, out, "swept 1 stale live lab\n")
	assert.NoDirExists(t, runDir("enlt-stale2"))
	assert.DirExists(t, runDir("enlt-live"))
	_, errOut, code = run(noLab, "sweep", "enlt-live")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "lab enlt-live is up")
	_, errOut, code = run(noLab, "sweep", "enlt-l")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "the live lab enlt-live starts with enlt-l")
}
