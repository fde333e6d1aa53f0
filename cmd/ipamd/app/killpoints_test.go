package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/enilab/enilab/fakeec2"
)

// runIPAMDEnv makes the test binary be the ipamd command (its arguments
// are ipamd's flags), so a test can SIGKILL a real ipamd process.
const runIPAMDEnv = "ENILAB_TEST_RUN_IPAMD"

func TestMain(m *testing.M) {
	if os.Getenv(runIPAMDEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "ipamd:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSIGKILLAtEachStepOfENIAllocation kills the ipamd process (SIGKILL, no
// clean-up of any kind) at each step of its ENI allocation: after EC2 has
// done the step and before ipamd hears the answer. A new ipamd on the same
// checkpoint then recovers as upstream's does: the half-made ENI is adopted
// (attached: nodeIPPoolReconcile) or deleted as leaked (created, never
// attached: cleanUpLeakedENIs), addresses EC2 assigned are found
// (verifyAndAddIPsToDatastore), and EC2 and ipamd agree on the pool.
func TestSIGKILLAtEachStepOfENIAllocation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ipamd processes")
	}
	for _, step := range []string{"CreateNetworkInterface", "AttachNetworkInterface", "ModifyNetworkInterfaceAttribute", "AssignPrivateIpAddresses"} {
		// t3.medium, WARM_ENI_TARGET=2, no pods: two ENIs of 5 secondary
		// addresses each, and nothing else in the VPC.
		t.Run(step, func(t *testing.T) {
			killAt(t, killCase{step: step, instanceType: "t3.medium", env: []string{"WARM_ENI_TARGET=2"},
				want: "enis=2 ec2IPs=10 prefixes=0 ipamdIPs=10 assigned=0 unattached=0"})
		})
	}
}

// TestSIGKILLAtEachStepOfPrefixAssignment is the same kill in prefix
// delegation (ENABLE_PREFIX_DELEGATION on a Nitro type): at the
// AssignPrivateIpAddresses with Ipv4PrefixCount that fills the primary ENI
// (upstream's tryAssignPrefixes) and at the CreateNetworkInterface with
// prefixes of the next ENI (tryAllocateENI). The next ipamd adopts the
// prefixes EC2 assigned (nodeIPPoolReconcile) or deletes the unattached ENI
// (cleanUpLeakedENIs); no prefix is lost or counted twice.
func TestSIGKILLAtEachStepOfPrefixAssignment(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ipamd processes")
	}
	for step, prefixes := range map[string]string{"AssignPrivateIpAddresses": "3", "CreateNetworkInterface": "1", "AttachNetworkInterface": ""} {
		// t3.small (Nitro) holds 3 prefixes per ENI; WARM_PREFIX_TARGET=4
		// wants the primary's 3 and one on a second ENI (64 addresses,
		// under its 110 max pods).
		t.Run(step, func(t *testing.T) {
			killAt(t, killCase{step: step, instanceType: "t3.small",
				env:  []string{"ENABLE_PREFIX_DELEGATION=true", "WARM_PREFIX_TARGET=4"},
				want: "enis=2 ec2IPs=0 prefixes=4 ipamdIPs=64 assigned=0 unattached=0", heldPrefixes: prefixes})
		})
	}
}

// TestSIGKILLAtEachStepOfRelease kills ipamd while it gives addresses and
// ENIs back: at the UnassignPrivateIpAddresses of a shrink (upstream's
// decreaseDatastorePool), at the DetachNetworkInterface and the
// DeleteNetworkInterface of a surplus ENI (tryFreeENI → freeENI). The next
// ipamd takes EC2's word for the pool (nodeIPPoolReconcile) and deletes
// the ENI left detached (cleanUpLeakedENIs); nothing leaks.
func TestSIGKILLAtEachStepOfRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ipamd processes")
	}
	for _, c := range []struct{ step, env, want string }{
		// WARM_IP_TARGET=2 keeps two addresses, on the primary.
		{"UnassignPrivateIpAddresses", "WARM_IP_TARGET=2", "enis=1 ec2IPs=2 prefixes=0 ipamdIPs=2 assigned=0 unattached=0"},
		// WARM_ENI_TARGET=1 keeps the primary's five addresses.
		{"DetachNetworkInterface", "WARM_ENI_TARGET=1", "enis=1 ec2IPs=5 prefixes=0 ipamdIPs=5 assigned=0 unattached=0"},
		{"DeleteNetworkInterface", "WARM_ENI_TARGET=1", "enis=1 ec2IPs=5 prefixes=0 ipamdIPs=5 assigned=0 unattached=0"},
	} {
		t.Run(c.step, func(t *testing.T) {
			lab := newEC2Lab(t, "t3.medium", c.step)
			dir := t.TempDir()
			// A pool of three full ENIs, then an ipamd that wants less.
			full := startIPAMD(t, dir, lab, "WARM_ENI_TARGET=3")
			lab.waitPool(t, full, func(p poolView) bool {
				return p.String() == "enis=3 ec2IPs=15 prefixes=0 ipamdIPs=15 assigned=0 unattached=0"
			})
			full.stop(t)
			lab.hold.armed.Store(true)
			first := startIPAMD(t, dir, lab, c.env)
			lab.waitHeld(t)
			first.kill(t)
			t.Logf("killed at %s: %s", c.step, lab.pool(t, first.introspection))
			lab.hold.open()
			second := startIPAMD(t, dir, lab, c.env)
			lab.waitPool(t, second, func(p poolView) bool { return p.String() == c.want })
			second.stop(t)
		})
	}
}

// killCase is one kill point: the EC2 action whose answer ipamd never
// hears, the node, ipamd's environment and the pool both sides agree on
// after recovery.
type killCase struct {
	step, instanceType string
	env                []string
	want               string
	// heldPrefixes is the held request's Ipv4PrefixCount ("" = none).
	heldPrefixes string
}

func killAt(t *testing.T, c killCase) {
	lab := newEC2Lab(t, c.instanceType, c.step)
	lab.hold.armed.Store(true)
	dir := t.TempDir()
	first := startIPAMD(t, dir, lab, c.env...)
	lab.waitHeld(t)
	first.kill(t)
	killed := lab.pool(t, first.introspection)
	t.Logf("killed at %s: %s", c.step, killed)
	require.Equal(t, c.heldPrefixes, lab.hold.form.Get("Ipv4PrefixCount"), "the held %s's prefix count", c.step)
	if c.step == "CreateNetworkInterface" {
		// The ENI EC2 made and ipamd never heard of, left for the next
		// ipamd to find.
		require.Equal(t, 1, killed.unattached, "the ENI EC2 created is unattached")
	}
	lab.hold.open()

	second := startIPAMD(t, dir, lab, c.env...)
	lab.waitPool(t, second, func(p poolView) bool { return p.String() == c.want })
	second.stop(t)
}

// ec2Lab is fakeec2 with one VPC, subnet and instance, its EC2 API served
// behind a holdAnswer, and the instance's IMDS.
type ec2Lab struct {
	srv             *fakeec2.Server
	vpcID, instance string
	hold            *holdAnswer
	ec2URL, imdsURL string
}

func newEC2Lab(t *testing.T, instanceType, holdAction string) *ec2Lab {
	t.Helper()
	srv, err := fakeec2.New(fakeec2.Config{Seed: 5})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	vpc, err := srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.1.0.0/16"})
	require.NoError(t, err)
	sn, err := srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: vpc.ID, CIDR: "10.1.0.0/20", AZ: "us-west-2a"})
	require.NoError(t, err)
	inst, err := srv.RunInstance(fakeec2.InstanceSpec{Type: instanceType, SubnetID: sn.ID})
	require.NoError(t, err)
	hold := &holdAnswer{action: holdAction, reached: make(chan struct{}), release: make(chan struct{})}
	ec2 := httptest.NewServer(hold.wrap(srv))
	t.Cleanup(ec2.Close)
	t.Cleanup(hold.open)
	imds := httptest.NewServer(srv.IMDS(inst.ID))
	t.Cleanup(imds.Close)
	return &ec2Lab{srv: srv, vpcID: vpc.ID, instance: inst.ID, hold: hold, ec2URL: ec2.URL, imdsURL: imds.URL}
}

// waitHeld waits until EC2 has done the held action.
func (l *ec2Lab) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-l.hold.reached:
	case <-time.After(30 * time.Second):
		t.Fatalf("ipamd never called %s", l.hold.action)
	}
}

// waitPool waits until ok holds for EC2's and p's view of the pool.
func (l *ec2Lab) waitPool(t *testing.T, p *ipamdProcess, ok func(poolView) bool) poolView {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := l.pool(t, p.introspection)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool never got there (kill point %s): %s", l.hold.action, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ipamdProcess is an ipamd command in its own process.
type ipamdProcess struct {
	*exec.Cmd
	introspection, socket string
}

// startIPAMD runs ipamd on dir's socket and checkpoint against lab; env
// adds to its environment.
func startIPAMD(t *testing.T, dir string, lab *ec2Lab, env ...string) *ipamdProcess {
	t.Helper()
	intro := freePort(t)
	sock := filepath.Join(dir, "ipamd.sock")
	cmd := exec.Command(os.Args[0], "-socket", sock, "-checkpoint", filepath.Join(dir, "ipam.json"),
		"-introspection", intro, "-metrics", "off", "-netns", "none", "-time-scale", "0.002")
	cmd.Env = append(os.Environ(), runIPAMDEnv+"=1", "AWS_ENDPOINT_URL_EC2="+lab.ec2URL,
		"AWS_EC2_METADATA_SERVICE_ENDPOINT="+lab.imdsURL, "AWS_ACCESS_KEY_ID=", "AWS_PROFILE=",
		"AWS_VPC_K8S_CNI_LOGLEVEL=ERROR")
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	p := &ipamdProcess{Cmd: cmd, introspection: intro, socket: sock}
	t.Cleanup(func() {
		if p.ProcessState == nil {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
		if t.Failed() {
			t.Logf("ipamd output:\n%s", out.String())
		}
	})
	return p
}

// kill is SIGKILL: no deferred function, no clean-up, no last checkpoint.
func (p *ipamdProcess) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.Process.Kill())
	_ = p.Wait()
}

// stop is the DaemonSet's SIGTERM; ipamd must stop cleanly.
func (p *ipamdProcess) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.Process.Signal(syscall.SIGTERM))
	require.NoError(t, p.Wait(), "ipamd stops cleanly")
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// poolView is EC2's and ipamd's view of the node's pool.
type poolView struct {
	enis, ec2IPs, prefixes, ipamdIPs, assigned, unattached int
}

func (p poolView) String() string {
	return fmt.Sprintf("enis=%d ec2IPs=%d prefixes=%d ipamdIPs=%d assigned=%d unattached=%d",
		p.enis, p.ec2IPs, p.prefixes, p.ipamdIPs, p.assigned, p.unattached)
}

// pool reads EC2's view and ipamd's introspection (ipamdIPs -1 when ipamd
// does not answer).
func (l *ec2Lab) pool(t *testing.T, intro string) poolView {
	in, ok := l.srv.Instance(l.instance)
	require.True(t, ok)
	v := poolView{enis: len(in.ENIs), ipamdIPs: -1, assigned: -1}
	for _, e := range in.ENIs {
		v.ec2IPs += len(e.SecondaryIPs)
		v.prefixes += len(e.Prefixes)
	}
	for _, e := range l.srv.ENIs() {
		if e.VPCID == l.vpcID && e.InstanceID == "" {
			v.unattached++
		}
	}
	if resp, err := http.Get("http://" + intro + "/v1/enis"); err == nil {
		// Upstream's eniV1RequestHandler answers one entry per network card.
		var byCard map[string]struct{ TotalIPs, AssignedIPs int }
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if json.Unmarshal(b, &byCard) == nil {
			v.ipamdIPs, v.assigned = 0, 0
			for _, c := range byCard {
				v.ipamdIPs += c.TotalIPs
				v.assigned += c.AssignedIPs
			}
		}
	}
	return v
}

// holdAnswer serves fakeec2 but holds back the answer to the first call of
// one action once armed: EC2 has done it, the caller has not heard.
type holdAnswer struct {
	action           string
	armed            atomic.Bool
	form             url.Values // the held request, once reached
	once, openOnce   sync.Once
	reached, release chan struct{}
}

func (h *holdAnswer) open() { h.openOnce.Do(func() { close(h.release) }) }

func (h *holdAnswer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if !h.armed.Load() || !strings.EqualFold(form.Get("Action"), h.action) {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		first := false
		h.once.Do(func() { first = true })
		if first && rec.Code == http.StatusOK {
			h.form = form
			close(h.reached)
			<-h.release
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}
