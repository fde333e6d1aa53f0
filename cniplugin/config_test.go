package cniplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/enilab/enilab/internal/datapath"
	"github.com/enilab/enilab/ipamd/rpc"
)

func TestParseConfigDefaults(t *testing.T) {
	s, err := ParseConfig([]byte(`{"cniVersion":"1.1.0","name":"aws-cni","type":"aws-cni"}`))
	require.NoError(t, err)
	assert.Equal(t, 9001, s.MTU)
	assert.Equal(t, "eni", s.VethPrefix)
	assert.Equal(t, "/var/run/aws-node/ipamd.sock", s.IPAMDSocket)
	assert.Equal(t, 10*time.Second, s.IPAMDTimeout)
	assert.Equal(t, "/var/run/aws-node/aws-cni", s.StateDir)
	assert.Equal(t, datapath.EnforcingStrict, s.Enforcing, "POD_SECURITY_GROUP_ENFORCING_MODE's default (upstream sgpp.DefaultEnforcingMode)")
}

func TestParseConfigFields(t *testing.T) {
	// Upstream's config writes mtu as a string; a number works too.
	for _, mtu := range []string{`"1500"`, `1500`} {
		s, err := ParseConfig([]byte(`{"cniVersion":"0.4.0","name":"n","type":"aws-cni","mtu":` + mtu +
			`,"vethPrefix":"abc","ipamdSocket":"/run/x/ipamd.sock","ipamdTimeout":"2s"}`))
		require.NoError(t, err, mtu)
		assert.Equal(t, 1500, s.MTU)
		assert.Equal(t, "abc", s.VethPrefix)
		assert.Equal(t, "/run/x/ipamd.sock", s.IPAMDSocket)
		assert.Equal(t, "/run/x/aws-cni", s.StateDir, "state lives beside the socket: one per ipamd")
		assert.Equal(t, 2*time.Second, s.IPAMDTimeout)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		code       uint
		want       []string
	}{
		{"invalid JSON", `{"cniVersion":"1.1.0",`, types.ErrInvalidNetworkConfig, []string{"not valid JSON"}},
		{"empty", ``, types.ErrInvalidNetworkConfig, []string{"not valid JSON: the configuration is empty"}},
		{"wrong type", `{"cniVersion":"1.1.0","name":"n","vethPrefix":5}`, types.ErrInvalidNetworkConfig, []string{"vethPrefix"}},
		{"unknown version", `{"cniVersion":"9.9.9","name":"n"}`, types.ErrIncompatibleCNIVersion, []string{`unsupported cniVersion "9.9.9"`, "0.4.0, 1.0.0, 1.1.0"}},
		{"too old for CHECK", `{"cniVersion":"0.3.1","name":"n"}`, types.ErrIncompatibleCNIVersion, []string{"0.3.1"}},
		{"bad MTU", `{"cniVersion":"1.1.0","name":"n","mtu":70000}`, types.ErrInvalidNetworkConfig, []string{`"mtu" 70000 is outside 576..9001`}},
		{"MTU not a number", `{"cniVersion":"1.1.0","name":"n","mtu":"big"}`, types.ErrInvalidNetworkConfig, []string{`"big" is not a whole number`}},
		{"every problem at once", `{"type":"bridge","vethPrefix":"toolong","ipamdSocket":"rel.sock","ipamdTimeout":"soon","mtu":1}`,
			types.ErrInvalidNetworkConfig, []string{`"cniVersion" is missing`, `"name" is missing`, `"vethPrefix" "toolong"`, `"ipamdSocket" "rel.sock"`, `"ipamdTimeout" "soon"`, `"mtu" 1`}},
		{"bad log level", `{"cniVersion":"1.1.0","name":"n","pluginLogLevel":"chatty","pluginLogFile":"rel.log"}`, types.ErrInvalidNetworkConfig, []string{`"pluginLogLevel" "chatty"`, `"pluginLogFile" "rel.log"`}},
		{"reserved prefix", `{"cniVersion":"1.1.0","name":"n","vethPrefix":"eth"}`, types.ErrInvalidNetworkConfig, []string{"reserved"}},
		{"enforcing mode", `{"cniVersion":"1.1.0","name":"n","podSGEnforcingMode":"strcit"}`, types.ErrInvalidNetworkConfig, []string{`"podSGEnforcingMode" "strcit" is not strict or standard`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.conf))
			require.Error(t, err)
			e, ok := err.(*types.Error)
			require.True(t, ok, "a CNI error")
			assert.Equal(t, tc.code, e.Code)
			for _, w := range tc.want {
				assert.Contains(t, e.Msg, w)
			}
		})
	}
}

func TestInvalidJSONNamesLine(t *testing.T) {
	_, err := ParseConfig([]byte("{\n\"cniVersion\": \"1.1.0\",\n\"name\": oops\n}"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 3")
}

func TestParseK8sArgs(t *testing.T) {
	k, err := ParseK8sArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-1;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1;OTHER=x")
	require.NoError(t, err)
	assert.Equal(t, K8sArgs{PodName: "coredns-1", PodNamespace: "kube-system", InfraContainerID: "abc", PodUID: "u-1"}, k)
	k, err = ParseK8sArgs("")
	require.NoError(t, err)
	assert.Equal(t, K8sArgs{}, k)
	_, err = ParseK8sArgs("K8S_POD_NAME")
	require.Error(t, err)
	assert.Equal(t, types.ErrInvalidEnvironmentVariables, err.(*types.Error).Code)
}

// TestBuildResultPerVersion: ADD's result has upstream's layout (cni.go
// add) in every version and reads back into the same attachment.
func TestBuildResultPerVersion(t *testing.T) {
	a := Attachment{HostVeth: "eni0123456789a", IfName: "eth0", Netns: "/run/netns/p", IP: netip.MustParseAddr("10.0.1.21"),
		Table: 2, DeviceNumber: 1, Dummy: "dummy0123456789a"}
	common := []string{`"address":"10.0.1.21/32"`, `"interface":1`}
	wantIfs := []any{
		map[string]any{"name": "eni0123456789a"},
		map[string]any{"name": "eth0", "mac": "2", "sandbox": "/run/netns/p"},
		map[string]any{"name": "dummy0123456789a", "mac": "0", "sandbox": "1"},
	}
	for _, tc := range []struct {
		version     string
		has, hasNot []string
	}{
		{"0.4.0", []string{`"cniVersion":"0.4.0"`, `"version":"4"`}, nil},
		{"1.0.0", []string{`"cniVersion":"1.0.0"`}, []string{`"version":"4"`}},
		{"1.1.0", []string{`"cniVersion":"1.1.0"`}, []string{`"version":"4"`}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			r, err := BuildResult(tc.version, a)
			require.NoError(t, err)
			assert.Equal(t, tc.version, r.Version())
			raw, err := json.Marshal(r)
			require.NoError(t, err)
			for _, s := range append(tc.has, common...) {
				assert.Contains(t, string(raw), s)
			}
			for _, s := range append(tc.hasNot, `"gateway"`, `"routes"`, `"mtu"`) {
				assert.NotContains(t, string(raw), s)
			}
			var doc map[string]any
			require.NoError(t, json.Unmarshal(raw, &doc))
			assert.Equal(t, wantIfs, doc["interfaces"])
			// And it reads back into the same attachment (what DEL/CHECK use).
			back, err := attachmentFromResult(r, "eth0")
			require.NoError(t, err)
			assert.Equal(t, a, back)
		})
	}
}

// TestAttachmentFromUpstreamResult feeds the reader a prevResult exactly
// as upstream's plugin prints it (cni.go add; read back by
// teardownPodNetworkWithPrevResult): the table comes from the pod
// interface's mac, else from the dummy interface's device number.
func TestAttachmentFromUpstreamResult(t *testing.T) {
	const upstream = `{"cniVersion":"1.0.0","interfaces":[{"name":"enib6f1d8c7a5e"},` +
		`{"name":"eth0","mac":"3","sandbox":"/var/run/netns/cni-1234"},{"name":"dummyb6f1d8c7a5e","mac":"0","sandbox":"2"}],` +
		`"ips":[{"interface":1,"address":"10.0.2.17/32"}],"dns":{}}`
	r, err := types100.NewResult([]byte(upstream))
	require.NoError(t, err)
	a, err := attachmentFromResult(r, "eth0")
	require.NoError(t, err)
	assert.Equal(t, Attachment{HostVeth: "enib6f1d8c7a5e", IfName: "eth0", Netns: "/var/run/netns/cni-1234",
		IP: netip.MustParseAddr("10.0.2.17"), Table: 3, DeviceNumber: 2, Dummy: "dummyb6f1d8c7a5e"}, a)

	// Before v1.20 the pod interface had no mac: the dummy's device number decides.
	old := strings.Replace(upstream, `"mac":"3",`, "", 1)
	r, err = types100.NewResult([]byte(old))
	require.NoError(t, err)
	a, err = attachmentFromResult(r, "eth0")
	require.NoError(t, err)
	assert.Equal(t, 3, a.Table)
	assert.Equal(t, 2, a.DeviceNumber)

	// A primary-ENI pod: mac "254", no source rule.
	main := strings.Replace(upstream, `"mac":"3",`, `"mac":"254",`, 1)
	r, err = types100.NewResult([]byte(main))
	require.NoError(t, err)
	a, err = attachmentFromResult(r, "eth0")
	require.NoError(t, err)
	assert.Equal(t, datapath.MainTable, a.Table)
}

// TestFirstIPv4Table: the table as upstream's SetupPodNetwork takes it from
// RouteTableId: the id when above 1, main otherwise.
func TestFirstIPv4Table(t *testing.T) {
	a, err := firstIPv4([]*rpc.IPAllocationMetadata{{IPv4Addr: "10.0.1.5", DeviceNumber: 0, RouteTableId: 254}})
	require.NoError(t, err)
	assert.Equal(t, datapath.MainTable, a.Table, "primary ENI: main, no source rule")
	a, err = firstIPv4([]*rpc.IPAllocationMetadata{{IPv4Addr: "10.0.1.5", DeviceNumber: 0, RouteTableId: 1}})
	require.NoError(t, err)
	assert.Equal(t, datapath.MainTable, a.Table, "1 (an old ipamd's primary table) is main")
	a, err = firstIPv4([]*rpc.IPAllocationMetadata{{IPv4Addr: "10.0.1.6", DeviceNumber: 2, RouteTableId: 3}})
	require.NoError(t, err)
	assert.Equal(t, 3, a.Table)
	_, err = firstIPv4([]*rpc.IPAllocationMetadata{{IPv4Addr: "fe80::1"}})
	assert.ErrorContains(t, err, "not an IPv4")
	_, err = firstIPv4(nil)
	assert.ErrorContains(t, err, "no IPv4")
}

func TestStateStore(t *testing.T) {
	st := store{filepath.Join(t.TempDir(), "state")}
	r := record{Network: "n", ContainerID: "c", IfName: "eth0", IP: netip.MustParseAddr("10.0.1.9"), Table: 2, HostVeth: "eni1"}
	require.NoError(t, st.put(r))
	require.NoError(t, st.put(record{Network: "other", ContainerID: "c", IfName: "eth0"}))
	got, ok := st.get("n", "c", "eth0")
	require.True(t, ok)
	assert.Equal(t, r, got)
	list, err := st.list("n")
	require.NoError(t, err)
	assert.Equal(t, []record{r}, list, "only the network's own records")
	require.NoError(t, st.remove("n", "c", "eth0"))
	require.NoError(t, st.remove("n", "c", "eth0"), "removing twice is fine")
	_, ok = st.get("n", "c", "eth0")
	assert.False(t, ok)
}

// runPlugin runs the plugin in-process for commands that fail before any
// netlink work (safe in the root namespace).
func runPlugin(t *testing.T, env map[string]string, stdin string) (int, *types.Error) {
	t.Helper()
	for _, k := range []string{"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH", "CNI_ARGS", TestFailEnv} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	code := run(os.Getenv, strings.NewReader(stdin), &out)
	if code == 0 {
		return 0, nil
	}
	var e types.Error
	require.NoError(t, json.Unmarshal(out.Bytes(), &e), "stdout is CNI error JSON: %s", out.String())
	return code, &e
}

func TestRunErrorCodes(t *testing.T) {
	netns := filepath.Join(t.TempDir(), "netns") // any existing path will do until ipamd answers
	require.NoError(t, os.WriteFile(netns, nil, 0o600))
	sock := filepath.Join(t.TempDir(), "nobody.sock")
	base := map[string]string{"CNI_CONTAINERID": "c1", "CNI_NETNS": netns, "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin",
		"CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p"}
	with := func(cmd string) map[string]string {
		m := map[string]string{"CNI_COMMAND": cmd}
		for k, v := range base {
			m[k] = v
		}
		return m
	}

	code, e := runPlugin(t, with("ADD"), `{"cniVersion":"1.1.0","name":"n",`)
	assert.Equal(t, 1, code)
	assert.Equal(t, types.ErrInvalidNetworkConfig, e.Code)
	assert.Contains(t, e.Msg, "not valid JSON")

	_, e = runPlugin(t, with("ADD"), `{"cniVersion":"2.0.0","name":"n","type":"aws-cni"}`)
	assert.Equal(t, types.ErrIncompatibleCNIVersion, e.Code)
	assert.Contains(t, e.Msg, `unsupported cniVersion "2.0.0"`)

	_, e = runPlugin(t, with("DEL"), `{"cniVersion":"1.1.0","name":"n","type":"aws-cni","mtu":"x"}`)
	assert.Equal(t, types.ErrInvalidNetworkConfig, e.Code)
	assert.Contains(t, e.Msg, `"mtu"`)

	conf := `{"cniVersion":"1.1.0","name":"n","type":"aws-cni","ipamdSocket":"` + sock + `"}`
	_, e = runPlugin(t, with("ADD"), conf)
	assert.Equal(t, types.ErrTryAgainLater, e.Code)
	assert.Contains(t, e.Msg, "ipamd is unreachable at "+sock)

	_, e = runPlugin(t, with("STATUS"), conf)
	assert.Equal(t, types.ErrPluginNotAvailable, e.Code)
	assert.Contains(t, e.Msg, "ipamd is unreachable at "+sock)

	noArgs := with("ADD")
	noArgs["CNI_ARGS"] = ""
	_, e = runPlugin(t, noArgs, conf)
	assert.Equal(t, types.ErrInvalidEnvironmentVariables, e.Code)
	assert.Contains(t, e.Msg, "K8S_POD_NAME")

	noNS := with("ADD")
	noNS["CNI_NETNS"] = filepath.Join(t.TempDir(), "gone")
	_, e = runPlugin(t, noNS, conf)
	assert.Equal(t, types.ErrInvalidNetNS, e.Code)

	_, e = runPlugin(t, with("GC"), `{"cniVersion":"1.0.0","name":"n","type":"aws-cni"}`)
	assert.Equal(t, types.ErrIncompatibleCNIVersion, e.Code, "GC needs 1.1.0")
}

// stubBackend answers as configured; for command logic that never reaches
// netlink.
type stubBackend struct {
	add    *rpc.AddNetworkReply
	addErr error
	health error
}

func (s *stubBackend) AddNetwork(context.Context, *rpc.AddNetworkRequest) (*rpc.AddNetworkReply, error) {
	return s.add, s.addErr
}
func (s *stubBackend) DelNetwork(context.Context, *rpc.DelNetworkRequest) (*rpc.DelNetworkReply, error) {
	return &rpc.DelNetworkReply{Success: true}, nil
}
func (s *stubBackend) Healthy(context.Context) error { return s.health }
func (s *stubBackend) Close() error                  { return nil }

func TestCommandsAgainstStubIPAMD(t *testing.T) {
	netns := filepath.Join(t.TempDir(), "netns")
	require.NoError(t, os.WriteFile(netns, nil, 0o600))
	conf := []byte(`{"cniVersion":"1.1.0","name":"n","type":"aws-cni"}`)
	args := &skel.CmdArgs{ContainerID: "c", Netns: netns, IfName: "eth0", Args: "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p", StdinData: conf}
	with := func(b *stubBackend) *plugin {
		return &plugin{dial: func(string) (backend, error) { return b, nil }, getenv: func(string) string { return "" }}
	}

	err := with(&stubBackend{health: status.Error(codes.Unavailable, "connection refused")}).cmdStatus(args)
	require.Error(t, err)
	assert.Equal(t, types.ErrPluginNotAvailable, err.(*types.Error).Code)
	assert.NoError(t, with(&stubBackend{}).cmdStatus(args), "healthy ipamd")

	err = with(&stubBackend{add: &rpc.AddNetworkReply{Success: false}}).cmdAdd(args)
	require.Error(t, err)
	assert.Equal(t, types.ErrTryAgainLater, err.(*types.Error).Code)
	assert.Contains(t, err.Error(), "no free IP address for pod ns/p")

	err = with(&stubBackend{addErr: status.Error(codes.DeadlineExceeded, "slow")}).cmdAdd(args)
	require.Error(t, err)
	assert.Equal(t, types.ErrTryAgainLater, err.(*types.Error).Code)
	assert.Contains(t, err.Error(), "ipamd is unreachable at /var/run/aws-node/ipamd.sock")
}

// TestIPAMDErrorClasses: an unknown pod is recognised as upstream's del
// recognises it (strings.Contains of datastore.ErrUnknownPod's text).
func TestIPAMDErrorClasses(t *testing.T) {
	assert.True(t, unreachable(status.Error(codes.Unavailable, "x")))
	assert.True(t, unreachable(context.DeadlineExceeded))
	assert.False(t, unreachable(status.Error(codes.NotFound, "x")))
	assert.False(t, unknownPod(status.Error(codes.NotFound, "x")), "upstream's del goes by the text, not the code")
	assert.True(t, unknownPod(status.Error(codes.Unknown, "1 error occurred:\n\t* datastore: unknown pod\n\n")), "upstream's message")
	assert.False(t, unknownPod(status.Error(codes.Internal, "checkpoint write failed")))
}
