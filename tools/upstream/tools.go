//go:build tools

// Package upstream pins the upstream VPC CNI's commands so `go build` in
// this module builds them from the module proxy: `make upstream` builds
// cmd/routed-eni-cni-plugin as bin/upstream/aws-cni.
package upstream

import (
	_ "github.com/aws/amazon-vpc-cni-k8s/cmd/routed-eni-cni-plugin"
)
