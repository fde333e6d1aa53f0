package cniplugin

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// FuzzParseConfig feeds arbitrary network configurations (the stdin of
// every CNI command): ParseConfig never panics, every refusal is a CNI
// error with code 1 or 7 and a message, and an accepted configuration has
// settings within the documented ranges.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"aws-cni","type":"aws-cni","mtu":"9001","vethPrefix":"eni"}`))
	f.Add([]byte(`{"cniVersion":"0.4.0","name":"aws-cni","type":"aws-cni","prevResult":{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.0.1.5/32"}]}}`))
	f.Add([]byte(`{"cniVersion":"9.9.9","name":"x"}`))
	f.Add([]byte(`{"mtu":-1,"vethPrefix":"toolongprefix"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseConfig(data)
		if err != nil {
			var cerr *types.Error
			if !errors.As(err, &cerr) || cerr.Msg == "" {
				t.Fatalf("refusal is not a CNI error with a message: %#v", err)
			}
			if cerr.Code != types.ErrInvalidNetworkConfig && cerr.Code != types.ErrIncompatibleCNIVersion {
				t.Fatalf("refusal code %d, want 1 or 7: %s", cerr.Code, cerr.Msg)
			}
			return
		}
		if s.MTU < 576 || s.MTU > 9001 {
			t.Fatalf("accepted MTU %d", s.MTU)
		}
		if s.VethPrefix == "" || s.IPAMDSocket == "" || s.IPAMDTimeout <= 0 {
			t.Fatalf("accepted settings without defaults: %+v", s)
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
	})
}

// FuzzParseK8sArgs feeds arbitrary CNI_ARGS (the runtime's per-pod
// configuration): no panic, refusals are code 4, and a value parsed is the
// text after the key's first "=" exactly.
func FuzzParseK8sArgs(f *testing.F) {
	f.Add("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1")
	f.Add("K8S_POD_NAME=a=b;;")
	f.Add("novalue")
	f.Fuzz(func(t *testing.T, args string) {
		k, err := ParseK8sArgs(args)
		if err != nil {
			var cerr *types.Error
			if !errors.As(err, &cerr) || cerr.Code != types.ErrInvalidEnvironmentVariables {
				t.Fatalf("refusal %#v, want code 4", err)
			}
			return
		}
		if k.PodName != "" {
			if _, err := ParseK8sArgs("K8S_POD_NAME=" + k.PodName); err != nil {
				t.Fatalf("a parsed name does not parse again: %v", err)
			}
		}
	})
}
