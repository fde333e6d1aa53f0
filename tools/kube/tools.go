//go:build tools

// Package kube pins k8s.io/kubernetes's kube-apiserver so `go build` in this
// module builds it from the module proxy: `make kube` builds
// cmd/kube-apiserver as bin/kube/kube-apiserver and ./cmd/etcd as
// bin/kube/etcd.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
