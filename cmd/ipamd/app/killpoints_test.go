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
		t.Run(step, func(t *testing.T) { killAt(t, step) })
	}
}

func killAt(t *testing.T, step string) {
	srv, err := fakeec2.New(fakeec2.Config{Seed: 5})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	vpc, err := srv.CreateVPC(fakeec2.VPCSpec{CIDR: "10.1.0.0/16"})
	require.NoError(t, err)
	sn, err := srv.CreateSubnet(fakeec2.SubnetSpec{VPCID: vpc.ID, CIDR: "10.1.0.0/24", AZ: "us-west-2a"})
	require.NoError(t, err)
	inst, err := srv.RunInstance(fakeec2.InstanceSpec{Type: "t3.medium", SubnetID: sn.ID})
	require.NoError(t, err)
	hold := &holdAnswer{action: step, reached: make(chan struct{}), release: make(chan struct{})}
	ec2 := httptest.NewServer(hold.wrap(srv))
	t.Cleanup(ec2.Close)
	t.Cleanup(hold.open)
	imds := httptest.NewServer(srv.IMDS(inst.ID))
	t.Cleanup(imds.Close)

	dir := t.TempDir()
	first := startIPAMD(t, dir, ec2.URL, imds.URL)
	select {
	case <-hold.reached:
	case <-time.After(30 * time.Second):
		t.Fatalf("ipamd never called %s", step)
	}
	require.NoError(t, first.Process.Kill())
	_ = first.Wait()
	killed := poolState(t, srv, vpc.ID, inst.ID, first.introspection)
	t.Logf("killed at %s: %s", step, killed)
	if step == "CreateNetworkInterface" {
		// The ENI EC2 made and ipamd never heard of, left for the next
		// ipamd to find.
		require.Contains(t, killed, "unattached=1")
	}
	hold.open()

	second := startIPAMD(t, dir, ec2.URL, imds.URL)
	t.Cleanup(func() { _ = second.Process.Kill(); _ = second.Wait() })
	// t3.medium, WARM_ENI_TARGET=2, no pods: two ENIs of 5 secondary
	// addresses each, and nothing else in the VPC.
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := poolState(t, srv, vpc.ID, inst.ID, second.introspection)
		if got == "enis=2 ec2IPs=10 ipamdIPs=10 unattached=0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a SIGKILL at %s the pool did not recover: %s", step, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, second.Process.Signal(syscall.SIGTERM))
	require.NoError(t, second.Wait(), "the second ipamd stops cleanly")
}

// ipamdProcess is an ipamd command in its own process.
type ipamdProcess struct {
	*exec.Cmd
	introspection string
}

func startIPAMD(t *testing.T, dir, ec2URL, imdsURL string) *ipamdProcess {
	t.Helper()
	intro := freePort(t)
	cmd := exec.Command(os.Args[0], "-socket", filepath.Join(dir, "ipamd.sock"), "-checkpoint", filepath.Join(dir, "ipam.json"),
		"-introspection", intro, "-metrics", "off", "-netns", "none", "-time-scale", "0.002")
	cmd.Env = append(os.Environ(), runIPAMDEnv+"=1", "AWS_ENDPOINT_URL_EC2="+ec2URL,
		"AWS_EC2_METADATA_SERVICE_ENDPOINT="+imdsURL, "AWS_ACCESS_KEY_ID=", "AWS_PROFILE=",
		"WARM_ENI_TARGET=2", "AWS_VPC_K8S_CNI_LOGLEVEL=ERROR")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ipamd output:\n%s", out.String())
		}
	})
	return &ipamdProcess{Cmd: cmd, introspection: intro}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// poolState is EC2's and ipamd's view of the node's pool in one line.
func poolState(t *testing.T, srv *fakeec2.Server, vpcID, instanceID, intro string) string {
	in, ok := srv.Instance(instanceID)
	require.True(t, ok)
	ec2IPs := 0
	for _, e := range in.ENIs {
		ec2IPs += len(e.SecondaryIPs)
	}
	unattached := 0
	for _, e := range srv.ENIs() {
		if e.VPCID == vpcID && e.InstanceID == "" {
			unattached++
		}
	}
	ipamdIPs := -1
	if resp, err := http.Get("http://" + intro + "/v1/enis"); err == nil {
		// Upstream's eniV1RequestHandler answers one entry per network card.
		var byCard map[string]struct{ TotalIPs int }
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if json.Unmarshal(b, &byCard) == nil {
			ipamdIPs = 0
			for _, c := range byCard {
				ipamdIPs += c.TotalIPs
			}
		}
	}
	return fmt.Sprintf("enis=%d ec2IPs=%d ipamdIPs=%d unattached=%d", len(in.ENIs), ec2IPs, ipamdIPs, unattached)
}

// holdAnswer serves fakeec2 but holds back the answer to the first call of
// one action: EC2 has done it, the caller has not heard.
type holdAnswer struct {
	action           string
	once, openOnce   sync.Once
	reached, release chan struct{}
}

func (h *holdAnswer) open() { h.openOnce.Do(func() { close(h.release) }) }

func (h *holdAnswer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if !strings.EqualFold(form.Get("Action"), h.action) {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		first := false
		h.once.Do(func() { first = true })
		if first && rec.Code == http.StatusOK {
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
