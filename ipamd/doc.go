// Package ipamd is the IPAM daemon of the Amazon VPC CNI as a library: it
// keeps a warm pool of ENIs, secondary IPs or /28 prefixes on its instance
// with the upstream semantics (WARM_ENI_TARGET, WARM_IP_TARGET,
// MINIMUM_IP_TARGET, WARM_PREFIX_TARGET, MAX_ENI, custom networking), hands
// addresses to the CNI plugin over the upstream gRPC protocol on a unix
// socket, checkpoints its assignments, and reconciles with EC2. It talks to
// EC2 and IMDS only through aws-sdk-go-v2, so pointing the SDK at fakeec2 is
// all a lab needs.
package ipamd
