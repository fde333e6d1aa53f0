package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/enilab/enilab/internal/nsutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeAPI is a real Kubernetes API server for a lab whose nodes run
// upstream's ipamd (docs/upstream-ipamd.md): etcd and kube-apiserver, both
// built by `make kube`, run as processes in a node's network namespace, with
// their data, keys and logs in a directory of the lab's. etcd listens on
// 127.0.0.1:2379 there, kube-apiserver on https://127.0.0.1:6443 (it
// advertises the node's primary address: it refuses to publish loopback);
// anyone with a certificate of the lab's CA is allowed everything
// (AlwaysAllow). The caller owns it: Close stops both and removes the
// directory.
type KubeAPI struct {
	node   *Node
	dir    string
	pki    *kubePKI
	procs  []*ownedProc // etcd, kube-apiserver: stopped in reverse
	client *dynamic.DynamicClient
	// Ready is how long kube-apiserver took from its launch to answering
	// /readyz, as measured by StartKubeAPI.
	Ready time.Duration
}

// The API server's addresses inside the node's namespace, and the service
// range it allocates the "kubernetes" service from (outside any lab VPC).
const (
	kubeAPIServer    = "https://127.0.0.1:6443"
	kubeServiceRange = "10.100.0.0/16"
	kubeServiceIP    = "10.100.0.1"
	etcdClientURL    = "http://127.0.0.1:2379"
	etcdPeerURL      = "http://127.0.0.1:2380"
)

// kubeLogs names the files under the server's directory that hold each
// process's output: etcd's, kube-apiserver's.
var kubeLogs = []string{"etcd.log", "kube-apiserver.log"}

// StartKubeAPI starts etcd and kube-apiserver from binDir (holding both, as
// `make kube` builds them into bin/kube) in the node's network namespace
// and waits until kube-apiserver answers /readyz. On any failure what was
// started is stopped and the directory removed.
func (n *Node) StartKubeAPI(ctx context.Context, binDir string) (*KubeAPI, error) {
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return nil, fmt.Errorf("node: %s: kube API server: %w (make kube builds it)", n.name, err)
		}
	}
	inst, ok := n.lab.ec2.Instance(n.instanceID)
	if !ok {
		return nil, fmt.Errorf("node: %s: kube API server: instance %s is gone", n.name, n.instanceID)
	}
	dir, err := os.MkdirTemp(n.lab.dir, "kube-")
	if err != nil {
		return nil, fmt.Errorf("node: %s: kube API server: %w", n.name, err)
	}
	k := &KubeAPI{node: n, dir: dir}
	if err := k.start(ctx, binDir, inst.PrimaryIP.String()); err != nil {
		return nil, errors.Join(fmt.Errorf("node: %s: kube API server: %w", n.name, err), k.Close())
	}
	return k, nil
}

func (k *KubeAPI) start(ctx context.Context, binDir, advertise string) error {
	pki, err := newKubePKI()
	if err != nil {
		return err
	}
	k.pki = pki
	serving, err := pki.serving(
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(advertise), net.ParseIP(kubeServiceIP)},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"})
	if err != nil {
		return err
	}
	admin, err := pki.client("enilab-admin", "system:masters")
	if err != nil {
		return err
	}
	saKey, err := serviceAccountKey()
	if err != nil {
		return err
	}
	if err := writeFiles(k.dir, map[string][]byte{
		"ca.crt": pki.caPEM, "apiserver.crt": serving.cert, "apiserver.key": serving.key, "sa.key": saKey,
	}); err != nil {
		return err
	}
	for _, d := range []string{"etcd", "cert-dir"} {
		if err := os.Mkdir(filepath.Join(k.dir, d), 0o700); err != nil {
			return err
		}
	}

	etcd, err := k.launch(filepath.Join(binDir, "etcd"), kubeLogs[0],
		"--name=lab", "--data-dir="+filepath.Join(k.dir, "etcd"),
		"--listen-client-urls="+etcdClientURL, "--advertise-client-urls="+etcdClientURL,
		"--listen-peer-urls="+etcdPeerURL, "--initial-advertise-peer-urls="+etcdPeerURL,
		"--initial-cluster=lab="+etcdPeerURL,
		// A lab's store outlives nothing: no fsync, small quota.
		"--unsafe-no-fsync", "--quota-backend-bytes=1073741824", "--log-level=warn")
	if err != nil {
		return err
	}
	launched := time.Now()
	apiserver, err := k.launch(filepath.Join(binDir, "kube-apiserver"), kubeLogs[1],
		"--etcd-servers="+etcdClientURL,
		"--bind-address=127.0.0.1", "--secure-port=6443", "--advertise-address="+advertise,
		"--cert-dir="+filepath.Join(k.dir, "cert-dir"),
		"--tls-cert-file="+filepath.Join(k.dir, "apiserver.crt"),
		"--tls-private-key-file="+filepath.Join(k.dir, "apiserver.key"),
		"--client-ca-file="+filepath.Join(k.dir, "ca.crt"),
		"--service-account-key-file="+filepath.Join(k.dir, "sa.key"),
		"--service-account-signing-key-file="+filepath.Join(k.dir, "sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range="+kubeServiceRange,
		"--authorization-mode=AlwaysAllow", "--anonymous-auth=false",
		"--profiling=false", "--v=1")
	if err != nil {
		return err
	}

	cfg := &rest.Config{
		Host:            kubeAPIServer,
		TLSClientConfig: rest.TLSClientConfig{CAData: pki.caPEM, CertData: admin.cert, KeyData: admin.key},
		Dial:            k.dialInNode,
		Timeout:         10 * time.Second,
	}
	if err := k.waitReady(ctx, cfg, etcd, apiserver); err != nil {
		return err
	}
	k.Ready = time.Since(launched)
	k.client, err = dynamic.NewForConfig(cfg)
	return err
}

// launch starts one of the server's processes in the node's namespaces,
// its output in logName under the server's directory.
func (k *KubeAPI) launch(bin, logName string, args ...string) (*ownedProc, error) {
	out, err := os.Create(filepath.Join(k.dir, logName))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := k.node.startInNode(cmd); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	p := &ownedProc{name: filepath.Base(bin), cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = out.Close()
		close(p.done)
	}()
	k.procs = append(k.procs, p)
	return p, nil
}

// waitReady polls /readyz through client-go until kube-apiserver answers
// ok, either process exits or ctx ends.
func (k *KubeAPI) waitReady(ctx context.Context, cfg *rest.Config, procs ...*ownedProc) error {
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
				return fmt.Errorf("%s exited before kube-apiserver was ready: %v; its log ends:\n%s", p.name, p.err, k.logTail(p.name+".log"))
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

// dialInNode opens connections from inside the node's network namespace,
// where the server listens.
func (k *KubeAPI) dialInNode(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := nsutil.Do(k.node.nsPath, func() error {
		var err error
		conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

var (
	nodesGVR = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	crdsGVR  = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// RegisterNode creates n's Node object as kubelet would: named as the node
// (aws-node's MY_NODE_NAME), with its labels (the zone among them) and, in
// its status, the pod capacity upstream's ipamd reads as max pods
// (ipamd.go nodeInit: node.Status.Capacity.Pods()).
func (k *KubeAPI) RegisterNode(ctx context.Context, n *Node) error {
	labels := map[string]any{}
	for key, v := range n.Labels() {
		labels[key] = v
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": n.name, "labels": labels},
		"spec":     map[string]any{"providerID": "aws:///" + n.subnet.AZ + "/" + n.instanceID},
	}}
	created, err := k.client.Resource(nodesGVR).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("node: register %s: %w", n.name, err)
	}
	pods := fmt.Sprint(n.MaxPods())
	created.Object["status"] = map[string]any{
		"capacity":    map[string]any{"pods": pods},
		"allocatable": map[string]any{"pods": pods},
	}
	if _, err := k.client.Resource(nodesGVR).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("node: register %s: status: %w", n.name, err)
	}
	return nil
}

// InstallCRDs creates every CustomResourceDefinition in the YAML files
// (upstream's, read where the module cache has them) and waits until each
// is established.
func (k *KubeAPI) InstallCRDs(ctx context.Context, files ...string) error {
	for _, f := range files {
		if err := k.installCRDFile(ctx, f); err != nil {
			return fmt.Errorf("node: install CRDs from %s: %w", f, err)
		}
	}
	return nil
}

func (k *KubeAPI) installCRDFile(ctx context.Context, file string) error {
	fh, err := os.Open(file)
	if err != nil {
		return err
	}
	defer fh.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(fh, 4096)
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if obj.GetKind() != "CustomResourceDefinition" {
			continue
		}
		if _, err := k.client.Resource(crdsGVR).Create(ctx, &obj, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("%s: %w", obj.GetName(), err)
		}
		if err := k.waitEstablished(ctx, obj.GetName()); err != nil {
			return err
		}
	}
}

func (k *KubeAPI) waitEstablished(ctx context.Context, name string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		crd, err := k.client.Resource(crdsGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not established: %w", name, ctx.Err())
		case <-tick.C:
		}
	}
}

// KubeconfigName is the kubeconfig WriteKubeconfig leaves in a node's
// directory: the node's daemons see it under AWSNodeRunDir.
const KubeconfigName = "kubeconfig"

// WriteKubeconfig writes a kubeconfig for n's aws-node (a client
// certificate of its own, user "aws-node") into n's directory and returns
// the path at which the node's daemons see it (their KUBECONFIG).
func (k *KubeAPI) WriteKubeconfig(n *Node) (string, error) {
	cred, err := k.pki.client("system:serviceaccount:kube-system:aws-node")
	if err != nil {
		return "", fmt.Errorf("node: kubeconfig for %s: %w", n.name, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: kubeAPIServer, CertificateAuthorityData: k.pki.caPEM}
	cfg.AuthInfos["aws-node"] = &clientcmdapi.AuthInfo{ClientCertificateData: cred.cert, ClientKeyData: cred.key}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: "aws-node"}
	cfg.CurrentContext = "lab"
	if err := clientcmd.WriteToFile(*cfg, filepath.Join(n.dir, KubeconfigName)); err != nil {
		return "", fmt.Errorf("node: kubeconfig for %s: %w", n.name, err)
	}
	return filepath.Join(AWSNodeRunDir, KubeconfigName), nil
}

// Logs returns the end of each process's output, for a failing test.
func (k *KubeAPI) Logs() map[string]string {
	out := map[string]string{}
	for _, name := range kubeLogs {
		out[name] = k.logTail(name)
	}
	return out
}

func (k *KubeAPI) logTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(k.dir, name))
	const keep = 4000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}

// Close stops kube-apiserver then etcd (SIGTERM, then SIGKILL after 10 s),
// waits for both and removes the server's directory.
func (k *KubeAPI) Close() error {
	var errs []error
	for i := len(k.procs) - 1; i >= 0; i-- {
		errs = append(errs, k.procs[i].stop(10*time.Second))
	}
	k.procs = nil
	if k.dir != "" {
		errs = append(errs, os.RemoveAll(k.dir))
		k.dir = ""
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
