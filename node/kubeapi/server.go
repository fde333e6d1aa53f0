// Package kubeapi runs a real Kubernetes API server for a lab whose nodes
// run upstream's ipamd (docs/upstream-ipamd.md): etcd and kube-apiserver,
// both built by `make kube`, as processes in a network namespace of the
// lab's, with their data, keys and logs in a directory of the lab's. etcd
// listens on 127.0.0.1:2379 there, kube-apiserver on URL (it advertises a
// non-loopback address of the namespace: it refuses to publish loopback);
// anyone with a certificate of the server's own CA is allowed everything
// (AlwaysAllow). It is a package of its own so that package node, linked
// into the lab binary that is also exec'd as a CNI plugin, does not carry
// client-go.
package kubeapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/enilab/enilab/internal/nsutil"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Config says where a server runs.
type Config struct {
	// BinDir holds kube-apiserver and etcd (`make kube`: bin/kube).
	BinDir string
	// Dir is a directory of the lab's; the server's own is made inside it
	// and removed by Close.
	Dir string
	// NetNS is the network namespace the server listens in; Start starts a
	// process in it (a node's: node.startInNode).
	NetNS string
	Start func(*exec.Cmd) error
	// Advertise is a non-loopback address of that namespace.
	Advertise netip.Addr
}

// Server is a running API server. The caller owns it: Close stops both
// processes and removes its directory.
type Server struct {
	cfg    Config
	dir    string
	pki    *pki
	procs  []*ownedProc // etcd, kube-apiserver: stopped in reverse
	client *dynamic.DynamicClient
	// Ready is how long kube-apiserver took from its launch to answering
	// /readyz, as measured by Start.
	Ready time.Duration
}

// URL is the API server inside its namespace; etcd's client and peer URLs,
// and the service range it allocates the "kubernetes" service from
// (outside any lab VPC).
const (
	URL          = "https://127.0.0.1:6443"
	serviceRange = "10.100.0.0/16"
	serviceIP    = "10.100.0.1"
	etcdClient   = "http://127.0.0.1:2379"
	etcdPeer     = "http://127.0.0.1:2380"
)

// logNames are the files under the server's directory that hold each
// process's output: etcd's, kube-apiserver's.
var logNames = []string{"etcd.log", "kube-apiserver.log"}

// Start starts etcd and kube-apiserver and waits until kube-apiserver
// answers /readyz. On any failure what was started is stopped and the
// directory removed.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, b)); err != nil {
			return nil, fmt.Errorf("kubeapi: %w (make kube builds it)", err)
		}
	}
	if cfg.Start == nil || cfg.NetNS == "" {
		return nil, errors.New("kubeapi: no namespace to run in (Config.NetNS and Config.Start)")
	}
	if !cfg.Advertise.IsValid() || cfg.Advertise.IsLoopback() {
		return nil, fmt.Errorf("kubeapi: advertise address %q: kube-apiserver needs a non-loopback address", cfg.Advertise)
	}
	dir, err := os.MkdirTemp(cfg.Dir, "kube-")
	if err != nil {
		return nil, fmt.Errorf("kubeapi: %w", err)
	}
	s := &Server{cfg: cfg, dir: dir}
	if err := s.start(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("kubeapi: %w", err), s.Close())
	}
	return s, nil
}

func (s *Server) start(ctx context.Context) error {
	binDir, advertise := s.cfg.BinDir, s.cfg.Advertise.String()
	ca, err := newPKI()
	if err != nil {
		return err
	}
	s.pki = ca
	serving, err := ca.serving(
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(advertise), net.ParseIP(serviceIP)},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"})
	if err != nil {
		return err
	}
	admin, err := ca.client("enilab-admin", "system:masters")
	if err != nil {
		return err
	}
	saKey, err := serviceAccountKey()
	if err != nil {
		return err
	}
	if err := writeFiles(s.dir, map[string][]byte{
		"ca.crt": ca.caPEM, "apiserver.crt": serving.cert, "apiserver.key": serving.key, "sa.key": saKey,
	}); err != nil {
		return err
	}
	for _, d := range []string{"etcd", "cert-dir"} {
		if err := os.Mkdir(filepath.Join(s.dir, d), 0o700); err != nil {
			return err
		}
	}

	etcd, err := s.launch(filepath.Join(binDir, "etcd"), logNames[0],
		"--name=lab", "--data-dir="+filepath.Join(s.dir, "etcd"),
		"--listen-client-urls="+etcdClient, "--advertise-client-urls="+etcdClient,
		"--listen-peer-urls="+etcdPeer, "--initial-advertise-peer-urls="+etcdPeer,
		"--initial-cluster=lab="+etcdPeer,
		// A lab's store outlives nothing: no fsync, half the default quota.
		"--unsafe-no-fsync", "--quota-backend-bytes=1073741824", "--log-level=warn")
	if err != nil {
		return err
	}
	launched := time.Now()
	apiserver, err := s.launch(filepath.Join(binDir, "kube-apiserver"), logNames[1],
		"--etcd-servers="+etcdClient,
		"--bind-address=127.0.0.1", "--secure-port=6443", "--advertise-address="+advertise,
		"--cert-dir="+filepath.Join(s.dir, "cert-dir"),
		"--tls-cert-file="+filepath.Join(s.dir, "apiserver.crt"),
		"--tls-private-key-file="+filepath.Join(s.dir, "apiserver.key"),
		"--client-ca-file="+filepath.Join(s.dir, "ca.crt"),
		"--service-account-key-file="+filepath.Join(s.dir, "sa.key"),
		"--service-account-signing-key-file="+filepath.Join(s.dir, "sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range="+serviceRange,
		"--authorization-mode=AlwaysAllow", "--anonymous-auth=false",
		"--profiling=false", "--v=1")
	if err != nil {
		return err
	}

	cfg := &rest.Config{
		Host:            URL,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca.caPEM, CertData: admin.cert, KeyData: admin.key},
		Dial:            s.dialInNS,
		Timeout:         10 * time.Second,
	}
	if err := s.waitReady(ctx, cfg, etcd, apiserver); err != nil {
		return err
	}
	s.Ready = time.Since(launched)
	s.client, err = dynamic.NewForConfig(cfg)
	return err
}

// launch starts one of the server's processes in its namespace
// (Config.Start), its output in logName under the server's directory.
func (s *Server) launch(bin, logName string, args ...string) (*ownedProc, error) {
	out, err := os.Create(filepath.Join(s.dir, logName))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := s.cfg.Start(cmd); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	p := &ownedProc{name: filepath.Base(bin), cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = out.Close()
		close(p.done)
	}()
	s.procs = append(s.procs, p)
	return p, nil
}

// waitReady polls /readyz through client-go until kube-apiserver answers
// ok, either process exits or ctx ends.
func (s *Server) waitReady(ctx context.Context, cfg *rest.Config, procs ...*ownedProc) error {
	rc := *cfg
	rc.NegotiatedSerializer = serializer.NewCodecFactory(runtime.NewScheme()).WithoutConversion()
	client, err := rest.UnversionedRESTClientFor(&rc)
	if err != nil {
		return err
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		body, err := client.Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			return nil
		}
		last = err
		for _, p := range procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited before kube-apiserver was ready: %v; its log ends:\n%s", p.name, p.err, s.logTail(p.name+".log"))
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready (last: %v): %w", last, ctx.Err())
		case <-tick.C:
		}
	}
}

// dialInNS opens connections from inside the server's network namespace,
// where it listens.
func (s *Server) dialInNS(ctx context.Context, network, addr string) (net.Conn, error) {
	return nsutil.DialContext(ctx, s.cfg.NetNS, network, addr)
}

// Logs returns the end of each process's output, for a failing test.
func (s *Server) Logs() map[string]string {
	out := map[string]string{}
	for _, name := range logNames {
		out[name] = s.logTail(name)
	}
	return out
}

func (s *Server) logTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.dir, name))
	const keep = 4000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}

// Close stops kube-apiserver then etcd (SIGTERM, then SIGKILL after 10 s),
// waits for both and removes the server's directory.
func (s *Server) Close() error {
	var errs []error
	for i := len(s.procs) - 1; i >= 0; i-- {
		errs = append(errs, s.procs[i].stop(10*time.Second))
	}
	s.procs = nil
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
		s.dir = ""
	}
	return errors.Join(errs...)
}

// ownedProc is a process the lab started and must stop and wait on.
type ownedProc struct {
	name string
	cmd  *exec.Cmd
	out  *os.File
	done chan struct{} // closed once Wait returned; err is set then
	err  error
}

// stop asks the process to end, kills it after grace, and waits for it.
// An exit caused by the signal is no error.
func (p *ownedProc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s ignored SIGTERM for %s and was killed", p.name, grace)
	}
	return nil
}
