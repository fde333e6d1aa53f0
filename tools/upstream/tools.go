//go:build tools

// Package upstream pins the upstream VPC CNI's commands so `go build` in
// this module builds them from the module proxy: `make upstream` builds
// cmd/routed-eni-cni-plugin as bin/upstream/aws-cni, `make upstream-agent`
// cmd/aws-k8s-agent (upstream's ipamd) as bin/upstream/aws-k8s-agent;
// `make upstream` also builds cmd/egress-cni-plugin as
// bin/upstream/egress-cni and containernetworking's host-local beside it.
package upstream

import (
	_ "github.com/aws/amazon-vpc-cni-k8s/cmd/aws-k8s-agent"
	_ "github.com/aws/amazon-vpc-cni-k8s/cmd/egress-cni-plugin"
	_ "github.com/aws/amazon-vpc-cni-k8s/cmd/routed-eni-cni-plugin"
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
)
