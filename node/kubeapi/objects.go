package kubeapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

var (
	nodesGVR = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	crdsGVR  = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// Node is what a kubelet would register for one node.
type Node struct {
	// Name is the node's name (aws-node's MY_NODE_NAME).
	Name string
	// Labels carry topology.kubernetes.io/zone among others.
	Labels map[string]string
	// ProviderID is aws:///<zone>/<instance id>.
	ProviderID string
	// MaxPods is the pod capacity upstream's ipamd reads as its max pods
	// (ipamd.go nodeInit: node.Status.Capacity.Pods()).
	MaxPods int
}

// RegisterNode creates the Node object, then sets its status' pod
// capacity and allocatable (the status is a subresource: create ignores it).
func (s *Server) RegisterNode(ctx context.Context, n Node) error {
	labels := map[string]any{}
	for key, v := range n.Labels {
		labels[key] = v
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": n.Name, "labels": labels},
		"spec":     map[string]any{"providerID": n.ProviderID},
	}}
	created, err := s.client.Resource(nodesGVR).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("kubeapi: register node %s: %w", n.Name, err)
	}
	pods := fmt.Sprint(n.MaxPods)
	created.Object["status"] = map[string]any{
		"capacity":    map[string]any{"pods": pods},
		"allocatable": map[string]any{"pods": pods},
	}
	if _, err := s.client.Resource(nodesGVR).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("kubeapi: register node %s: status: %w", n.Name, err)
	}
	return nil
}

// InstallCRDs creates every CustomResourceDefinition in the YAML files
// (upstream's, read where the module cache has them) and waits until each
// is established.
func (s *Server) InstallCRDs(ctx context.Context, files ...string) error {
	for _, f := range files {
		if err := s.installCRDFile(ctx, f); err != nil {
			return fmt.Errorf("kubeapi: install CRDs from %s: %w", f, err)
		}
	}
	return nil
}

func (s *Server) installCRDFile(ctx context.Context, file string) error {
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
		if _, err := s.client.Resource(crdsGVR).Create(ctx, &obj, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("%s: %w", obj.GetName(), err)
		}
		if err := s.waitEstablished(ctx, obj.GetName()); err != nil {
			return err
		}
	}
}

func (s *Server) waitEstablished(ctx context.Context, name string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		crd, err := s.client.Resource(crdsGVR).Get(ctx, name, metav1.GetOptions{})
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

// WriteKubeconfig writes a kubeconfig at path for user, with a client
// certificate of its own (aws-node's: system:serviceaccount:kube-system:aws-node).
// The server it names is URL: reachable inside the server's namespace.
func (s *Server) WriteKubeconfig(path, user string) error {
	cred, err := s.pki.client(user)
	if err != nil {
		return fmt.Errorf("kubeapi: kubeconfig for %s: %w", user, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: URL, CertificateAuthorityData: s.pki.caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cred.cert, ClientKeyData: cred.key}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: user}
	cfg.CurrentContext = "lab"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("kubeapi: kubeconfig for %s: %w", user, err)
	}
	return nil
}
