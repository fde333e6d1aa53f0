// Package cniplugin is the routed-ENI CNI plugin of the Amazon VPC CNI as a
// library: ADD asks ipamd (over its gRPC unix socket) for an address and
// wires the pod the way upstream does — a veth whose host end lives in the
// node namespace, the pod's /32 behind the link-local gateway 169.254.1.1
// with a static neighbour entry, a host /32 route and the policy rules that
// keep a secondary-ENI pod's traffic on its own ENI. DEL, CHECK, STATUS and
// GC complete the CNI 1.1 surface. Main is the whole binary.
//
// Test hook: when the environment variable ENILAB_CNI_TEST_FAIL is set, ADD
// fails on purpose after ipamd assigned the address, at the stage it names
// (assign, veth, pod, host — any other value means host, the last one), so
// tests can prove that nothing is left behind; "panic:<stage>" panics there
// instead, for the same proof on the panic path. It is never set in normal
// use.
package cniplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/enilab/enilab/ipamd/netsetup"
	"github.com/enilab/enilab/ipamd/rpc"
)

// Error codes beyond the spec's well-known ones (0-99 are the spec's).
const (
	// ErrCheckFailed: CHECK found the pod's networking differs from what
	// ADD built; the message lists every item.
	ErrCheckFailed uint = 100
	// ErrSetupFailed: ADD got an address but could not wire the pod; the
	// address was released and everything built was removed.
	ErrSetupFailed uint = 101
)

// Release reasons sent to ipamd in DelNetworkRequest.Reason.
const (
	ReasonSetupFailed = "SetupNSFailed"
	ReasonPodDeleted  = "PodDeleted"
	ReasonGC          = "GarbageCollected"
)

// TestFailEnv names the test hook described in the package doc.
const TestFailEnv = "ENILAB_CNI_TEST_FAIL"

// about is printed when the binary runs without CNI_COMMAND.
const about = "aws-cni: the enilab routed-ENI CNI plugin (Amazon VPC CNI compatible)"

// Main is the plugin binary: it serves one CNI command from the environment
// and stdin, and exits the process (0 on success, 1 after printing a CNI
// error on stdout).
func Main() {
	os.Exit(run(os.Getenv, os.Stdin, os.Stdout))
}

// ExecName is the name under which a binary must behave as the plugin.
const ExecName = PluginType

// IsPluginExec reports whether argv0 asks this binary to be the plugin; a
// lab binary checks it first thing and calls Main (busybox style).
func IsPluginExec(argv0 string) bool { return filepath.Base(argv0) == ExecName }

// RunIfPlugin is the first statement of every main and TestMain whose binary
// a lab re-executes as the plugin (LabConfig.PluginPath ""): invoked as
// aws-cni it serves the CNI command and exits the process, so it never
// returns; under any other name it returns at once and the binary goes on
// as itself.
func RunIfPlugin() {
	if IsPluginExec(os.Args[0]) {
		Main()
	}
}

// plugin holds what commands depend on, so unit tests can swap ipamd and
// the environment.
type plugin struct {
	dial   func(socket string) (backend, error)
	getenv func(string) string
}

func run(getenv func(string) string, stdin io.Reader, stdout io.Writer) int {
	p := &plugin{dial: dialIPAMD, getenv: getenv}
	// skel would report unparseable JSON as a decoding failure (6) and an
	// unknown version tersely; the configuration is checked first so a
	// person sees code 7 (or 1) and exactly what is wrong.
	data, err := io.ReadAll(stdin)
	if err != nil {
		return printErr(stdout, types.NewError(types.ErrIOFailure, "aws-cni: read stdin: "+err.Error(), ""))
	}
	switch getenv("CNI_COMMAND") {
	case "ADD", "DEL", "CHECK", "STATUS", "GC":
		if _, err := ParseConfig(data); err != nil {
			return printErr(stdout, asCNIError(err))
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return printErr(stdout, types.NewError(types.ErrIOFailure, "aws-cni: "+err.Error(), ""))
	}
	go func() {
		_, _ = io.Copy(w, bytes.NewReader(data))
		w.Close()
	}()
	saved := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = saved; r.Close() }()
	e := skel.PluginMainFuncsWithError(skel.CNIFuncs{
		Add: logged("ADD", p.cmdAdd), Del: logged("DEL", p.cmdDel), Check: logged("CHECK", p.cmdCheck),
		Status: logged("STATUS", p.cmdStatus), GC: logged("GC", p.cmdGC),
	}, version.PluginSupports(SupportedVersions...), about)
	if e != nil {
		return printErr(stdout, e)
	}
	return 0
}

// logged writes one line per command to pluginLogFile when it is set.
func logged(cmd string, fn func(*skel.CmdArgs) error) func(*skel.CmdArgs) error {
	return func(args *skel.CmdArgs) error {
		start := time.Now()
		err := fn(args)
		s, perr := ParseConfig(args.StdinData)
		if perr != nil || s.LogFile == "" {
			return err
		}
		if mkErr := os.MkdirAll(filepath.Dir(s.LogFile), 0o755); mkErr != nil {
			return err
		}
		f, ferr := os.OpenFile(s.LogFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if ferr != nil {
			return err
		}
		defer f.Close()
		log := slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: s.LogLevel}))
		attrs := []any{"container", args.ContainerID, "netns", args.Netns, "ifname", args.IfName, "args", args.Args,
			"network", s.Conf.Name, "took", time.Since(start)}
		if err != nil {
			log.Error(cmd+" failed", append(attrs, "err", err)...)
		} else {
			log.Info(cmd+" done", attrs...)
		}
		return err
	}
}

func printErr(w io.Writer, e *types.Error) int {
	data, err := json.MarshalIndent(e, "", "    ")
	if err == nil {
		_, _ = w.Write(append(data, '\n'))
	}
	return 1
}

func asCNIError(err error) *types.Error {
	var e *types.Error
	if errors.As(err, &e) {
		return e
	}
	return types.NewError(types.ErrInternal, err.Error(), "")
}

func (p *plugin) hook(stage string) error {
	want := p.getenv(TestFailEnv)
	if want == "" {
		return nil
	}
	want, panics := strings.CutPrefix(want, "panic:")
	if !slices.Contains([]string{"assign", "veth", "pod", "host"}, want) {
		want = "host"
	}
	if want != stage {
		return nil
	}
	if panics {
		panic(fmt.Sprintf("injected panic at stage %q (%s is set)", stage, TestFailEnv))
	}
	return fmt.Errorf("injected failure at stage %q (%s is set)", stage, TestFailEnv)
}

func podRef(k K8sArgs) string { return k.PodNamespace + "/" + k.PodName }

// delRequest asks ipamd to release the address of one attachment, keyed as
// ipamd keys it (network, container, ifname) and with the pod facts its
// logs and metrics name.
func delRequest(reason, network, containerID, ifName string, k K8sArgs) *rpc.DelNetworkRequest {
	return &rpc.DelNetworkRequest{
		K8S_POD_NAME: k.PodName, K8S_POD_NAMESPACE: k.PodNamespace, K8S_POD_INFRA_CONTAINER_ID: k.InfraContainerID,
		K8S_POD_UID: k.PodUID, Reason: reason, IfName: ifName, NetworkName: network, ContainerID: containerID,
		ClientVersion: ClientVersion,
	}
}

func (p *plugin) cmdAdd(args *skel.CmdArgs) (rerr error) {
	s, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	k, err := ParseK8sArgs(args.Args)
	if err != nil {
		return err
	}
	if k.PodName == "" || k.PodNamespace == "" {
		return types.NewError(types.ErrInvalidEnvironmentVariables,
			"aws-cni: CNI_ARGS must carry K8S_POD_NAMESPACE and K8S_POD_NAME (the host veth is named from them); got "+fmt.Sprintf("%q", args.Args), "")
	}
	if args.Netns == "" {
		return types.NewError(types.ErrInvalidNetNS, "aws-cni: CNI_NETNS is empty: ADD needs the pod's network namespace", "")
	}
	if _, err := os.Stat(args.Netns); err != nil {
		return types.NewError(types.ErrInvalidNetNS, fmt.Sprintf("aws-cni: pod network namespace %s: %v", args.Netns, err), "")
	}

	b, err := p.dial(s.IPAMDSocket)
	if err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("aws-cni: ipamd is unreachable at %s: %v", s.IPAMDSocket, err), "")
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), s.IPAMDTimeout)
	reply, err := b.AddNetwork(ctx, &rpc.AddNetworkRequest{
		K8S_POD_NAME: k.PodName, K8S_POD_NAMESPACE: k.PodNamespace, K8S_POD_INFRA_CONTAINER_ID: k.InfraContainerID,
		Netns: args.Netns, IfName: args.IfName, NetworkName: s.Conf.Name, ContainerID: args.ContainerID,
		ClientVersion: ClientVersion,
	})
	cancel()
	switch {
	case unreachable(err):
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf(
			"aws-cni: ipamd is unreachable at %s (%v); is ipamd (aws-node) running on this node?", s.IPAMDSocket, err), "")
	case err != nil:
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("aws-cni: ipamd refused an address for pod %s: %v", podRef(k), err), "")
	case !reply.GetSuccess():
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf(
			"aws-cni: ipamd has no free IP address for pod %s (warm pool empty or node at max pods); try again later", podRef(k)), "")
	}

	release := func(cause error) *types.Error {
		ctx, cancel := context.WithTimeout(context.Background(), s.IPAMDTimeout)
		defer cancel()
		_, delErr := b.DelNetwork(ctx, delRequest(ReasonSetupFailed, s.Conf.Name, args.ContainerID, args.IfName, k))
		msg := fmt.Sprintf("aws-cni: set up network of pod %s: %v", podRef(k), cause)
		if delErr != nil && !unknownPod(delErr) {
			msg += fmt.Sprintf("; releasing the address also failed (%v) — ipamd's reconcile will reclaim it", delErr)
		} else {
			msg += "; the address was released and nothing was left behind"
		}
		return types.NewError(ErrSetupFailed, msg, "")
	}

	// From here on the address is the pod's: every way out but success
	// gives it back, a panic included. A panic inside wire has undone its
	// part by then; one after it finds the finished wiring in wired.
	var wired *Attachment
	defer func() {
		if r := recover(); r != nil {
			if wired != nil {
				if h, err := openHost(); err == nil {
					_ = h.unwire(*wired, args.ContainerID)
					h.Close()
				}
			}
			rerr = release(fmt.Errorf("panic: %v", r))
		}
	}()
	alloc, err := firstIPv4(reply.GetIPAllocationMetadata())
	if err != nil {
		return release(err)
	}
	if err := p.hook("assign"); err != nil {
		return release(err)
	}
	host, err := openHost()
	if err != nil {
		return release(err)
	}
	defer host.Close()
	a := Attachment{
		HostVeth: netsetup.HostVethName(s.VethPrefix, k.PodNamespace, k.PodName),
		IfName:   args.IfName, Netns: args.Netns, IP: alloc.IP, MTU: s.MTU,
	}
	if err := host.wire(&a, alloc.Table, hostAlias(args.ContainerID, args.IfName, alloc.IP, alloc.Table), p.hook); err != nil {
		return release(err)
	}
	wired = &a
	st := store{s.StateDir}
	rec := record{
		Network: s.Conf.Name, ContainerID: args.ContainerID, IfName: args.IfName, Netns: args.Netns,
		PodNamespace: k.PodNamespace, PodName: k.PodName, PodUID: k.PodUID, HostVeth: a.HostVeth,
		IP: alloc.IP, DeviceNumber: alloc.DeviceNumber, Table: alloc.Table,
	}
	if err := st.put(rec); err != nil {
		_ = host.unwire(a, args.ContainerID)
		return release(err)
	}
	result, err := BuildResult(s.Conf.CNIVersion, a)
	if err != nil {
		_ = host.unwire(a, args.ContainerID)
		_ = st.remove(rec.Network, rec.ContainerID, rec.IfName)
		return release(err)
	}
	return types.PrintResult(result, s.Conf.CNIVersion)
}

func (p *plugin) cmdDel(args *skel.CmdArgs) error {
	s, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	k, _ := ParseK8sArgs(args.Args) // DEL cleans up even with odd CNI_ARGS
	st := store{s.StateDir}
	rec, haveRec := st.get(s.Conf.Name, args.ContainerID, args.IfName)
	prev, _ := attachmentFromResult(s.Conf.PrevResult, args.IfName)

	a := Attachment{IfName: args.IfName, Netns: args.Netns, IP: prev.IP, HostVeth: prev.HostVeth}
	if k.PodName != "" && k.PodNamespace != "" {
		a.HostVeth = netsetup.HostVethName(s.VethPrefix, k.PodNamespace, k.PodName)
	}
	if haveRec {
		if a.HostVeth == "" {
			a.HostVeth = rec.HostVeth
		}
		if !a.IP.IsValid() {
			a.IP = rec.IP
		}
		if k.PodName == "" {
			k.PodName, k.PodNamespace, k.PodUID = rec.PodName, rec.PodNamespace, rec.PodUID
		}
	}

	var ipamdErr error
	if b, err := p.dial(s.IPAMDSocket); err != nil {
		ipamdErr = err
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), s.IPAMDTimeout)
		reply, err := b.DelNetwork(ctx, delRequest(ReasonPodDeleted, s.Conf.Name, args.ContainerID, args.IfName, k))
		cancel()
		b.Close()
		ipamdErr = err
		if err == nil && reply.GetSuccess() {
			if alloc, aerr := firstIPv4(reply.GetIPAllocationMetadata()); aerr == nil {
				a.IP = alloc.IP
			}
		}
	}

	host, err := openHost()
	if err != nil {
		return types.NewError(types.ErrInternal, "aws-cni: DEL: "+err.Error(), "")
	}
	defer host.Close()
	if err := host.unwire(a, args.ContainerID); err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("aws-cni: DEL of container %s: %v", args.ContainerID, err), "")
	}
	if err := st.remove(s.Conf.Name, args.ContainerID, args.IfName); err != nil {
		return types.NewError(types.ErrIOFailure, "aws-cni: DEL: "+err.Error(), "")
	}
	// ipamd down: its restore drops addresses whose host veth is gone, so
	// DEL succeeds rather than block sandbox removal on it.
	if ipamdErr != nil && !unreachable(ipamdErr) && !unknownPod(ipamdErr) {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf(
			"aws-cni: the pod's networking is removed but ipamd at %s failed to release its address: %v", s.IPAMDSocket, ipamdErr), "")
	}
	return nil
}

func (p *plugin) cmdCheck(args *skel.CmdArgs) error {
	s, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	if s.Conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "aws-cni: CHECK needs prevResult (the runtime passes the ADD result)", "")
	}
	prev, err := attachmentFromResult(s.Conf.PrevResult, args.IfName)
	if err != nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "aws-cni: CHECK: "+err.Error(), "")
	}
	if !prev.IP.IsValid() || prev.HostVeth == "" {
		return types.NewError(types.ErrInvalidNetworkConfig,
			"aws-cni: CHECK: prevResult names no IPv4 address or no host interface; it is not an aws-cni result", "")
	}
	a := prev
	a.IfName, a.Netns = args.IfName, args.Netns
	k, _ := ParseK8sArgs(args.Args)

	host, err := openHost()
	if err != nil {
		return types.NewError(types.ErrInternal, "aws-cni: CHECK: "+err.Error(), "")
	}
	defer host.Close()

	var bad []string
	table := 0
	if rec, ok := (store{s.StateDir}).get(s.Conf.Name, args.ContainerID, args.IfName); ok {
		table = rec.Table
		if rec.IP != prev.IP {
			bad = append(bad, fmt.Sprintf("prevResult address %v differs from the recorded %v", prev.IP, rec.IP))
		}
	} else if l, err := host.h.LinkByName(a.HostVeth); err == nil {
		if _, _, _, t, ok := parseAlias(l.Attrs().Alias); ok {
			table = t
		}
	}
	if k.PodName != "" && k.PodNamespace != "" {
		if want := netsetup.HostVethName(s.VethPrefix, k.PodNamespace, k.PodName); want != prev.HostVeth {
			bad = append(bad, fmt.Sprintf("prevResult host interface %s is not the pod's veth name %s", prev.HostVeth, want))
		}
	}
	bad = append(bad, host.check(a, table, s.MTU)...)
	if len(bad) > 0 {
		return types.NewError(ErrCheckFailed, fmt.Sprintf("aws-cni: CHECK of container %s (%v): %s",
			args.ContainerID, prev.IP, strings.Join(bad, "; ")), "")
	}
	return nil
}

func (p *plugin) cmdStatus(args *skel.CmdArgs) error {
	s, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	b, err := p.dial(s.IPAMDSocket)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.IPAMDTimeout)
		err = b.Healthy(ctx)
		cancel()
		b.Close()
	}
	if err != nil {
		return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf(
			"aws-cni: ipamd is unreachable at %s (%v); pods cannot get addresses until ipamd (aws-node) runs", s.IPAMDSocket, err), "")
	}
	return nil
}

func (p *plugin) cmdGC(args *skel.CmdArgs) error {
	s, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	valid := map[types.GCAttachment]bool{}
	for _, v := range s.Conf.ValidAttachments {
		valid[v] = true
	}
	st := store{s.StateDir}
	recs, err := st.list(s.Conf.Name)
	if err != nil {
		return types.NewError(types.ErrIOFailure, "aws-cni: GC: "+err.Error(), "")
	}
	var stale []record
	for _, r := range recs {
		if !valid[types.GCAttachment{ContainerID: r.ContainerID, IfName: r.IfName}] {
			stale = append(stale, r)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	b, err := p.dial(s.IPAMDSocket)
	if err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("aws-cni: GC: ipamd is unreachable at %s: %v", s.IPAMDSocket, err), "")
	}
	defer b.Close()
	host, err := openHost()
	if err != nil {
		return types.NewError(types.ErrInternal, "aws-cni: GC: "+err.Error(), "")
	}
	defer host.Close()
	var errs []string
	for _, r := range stale {
		ctx, cancel := context.WithTimeout(context.Background(), s.IPAMDTimeout)
		_, err := b.DelNetwork(ctx, delRequest(ReasonGC, r.Network, r.ContainerID, r.IfName,
			K8sArgs{PodName: r.PodName, PodNamespace: r.PodNamespace, PodUID: r.PodUID}))
		cancel()
		if unreachable(err) {
			return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("aws-cni: GC: ipamd is unreachable at %s (%v)", s.IPAMDSocket, err), "")
		}
		if err != nil && !unknownPod(err) {
			errs = append(errs, fmt.Sprintf("release %v of container %s: %v", r.IP, r.ContainerID, err))
			continue
		}
		if err := host.unwire(Attachment{HostVeth: r.HostVeth, IfName: r.IfName, Netns: r.Netns, IP: r.IP}, r.ContainerID); err != nil {
			errs = append(errs, fmt.Sprintf("clean up container %s: %v", r.ContainerID, err))
			continue
		}
		if err := st.remove(r.Network, r.ContainerID, r.IfName); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return types.NewError(types.ErrTryAgainLater, "aws-cni: GC: "+strings.Join(errs, "; "), "")
	}
	return nil
}
