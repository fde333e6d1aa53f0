package main

import (
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/enilab/enilab/internal/vmenv"
)

// ExitError carries the exit status the runner must end with.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// DefaultPackages are the privileged suites, run when they exist.
var DefaultPackages = []string{"./internal/nsutil", "./ipamd/netsetup", "./cniplugin", "./node", "./e2e"}

// Config is one vm-test run. The zero value plus RepoDir is usable: every
// field has a default (see Defaults).
type Config struct {
	RepoDir      string
	Packages     []string // go package args; empty = DefaultPackages that exist
	Backends     []string // ENI backends for packages that link node/: dummy, veth
	LabelFilter  string   // ginkgo label filter for every run
	DummyFilter  string   // and-ed into the filter of dummy-backend runs
	Run          string   // -test.run for every binary
	Helpers      []string // name=package, built static and put on the VM's PATH
	HostTools    []string // host programs copied in with their libraries (ip)
	Modules      []string // kernel modules to load (dependencies follow)
	KernelPkg    string   // Debian kernel package; "" = linux-image-cloud-amd64's
	CacheDir     string
	OutDir       string // JUnit and logs
	Accel        string // auto | kvm | tcg
	MemoryMiB    int
	CPUs         int // 0 = 2 with KVM, 1 with TCG
	Timeout      time.Duration
	TestTimeout  time.Duration
	Env          []string // KEY=VALUE set for every suite inside the VM
	Verbose      bool
	Keep         bool
	Refresh      bool
	List         bool // print the plan (initramfs listing, /init) and stop
	explicitPkgs bool
}

// Defaults fills in what is unset.
func (c *Config) Defaults(getenv func(string) string) {
	if c.RepoDir == "" {
		c.RepoDir, _ = os.Getwd()
	}
	if len(c.Packages) == 0 {
		c.Packages = DefaultPackages
	}
	if len(c.Backends) == 0 {
		c.Backends = []string{"dummy", "veth"}
	}
	if len(c.Helpers) == 0 {
		c.Helpers = []string{"aws-cni=./cmd/aws-cni", "cnitool=github.com/containernetworking/cni/cnitool@v1.3.1"}
	}
	if len(c.HostTools) == 0 {
		// ipamd installs upstream's SNAT and connmark rules with iptables.
		c.HostTools = []string{"ip", "iptables"}
	}
	if len(c.Modules) == 0 {
		// dummy and veth are the ENI backends; xfrm_user and nfnetlink let
		// vishvananda/netlink open a handle with its default families; the
		// rest are what ipamd's iptables rules (nft backend) and the
		// fabric's NAT tables and source checks (nft fib) use;
		// ipt_REJECT is the IPv6-mode rule that keeps pods off each
		// other's IPv4 egress addresses; 8021q is the VLAN links of
		// branch ENIs (security groups for pods).
		c.Modules = []string{"dummy", "veth", "8021q", "xfrm_user", "nfnetlink",
			"nf_tables", "nft_compat", "nft_chain_nat", "nft_nat", "nft_ct", "nft_masq", "nf_conntrack_netlink",
			"nft_fib_ipv4", "nft_fib_ipv6", "nft_fib_inet",
			"xt_comment", "xt_mark", "xt_connmark", "xt_addrtype", "xt_nat", "xt_conntrack", "xt_MASQUERADE",
			"xt_statistic", "xt_tcpudp", "ipt_REJECT"}
	}
	if c.CacheDir == "" {
		switch {
		case getenv("XDG_CACHE_HOME") != "":
			c.CacheDir = filepath.Join(getenv("XDG_CACHE_HOME"), "enilab-vm")
		case getenv("HOME") != "":
			c.CacheDir = filepath.Join(getenv("HOME"), ".cache", "enilab-vm")
		default:
			c.CacheDir = "/var/cache/enilab-vm"
		}
	}
	if c.OutDir == "" {
		c.OutDir = filepath.Join(c.RepoDir, "bin", "vm-test")
	}
	if c.Accel == "" {
		c.Accel = "auto"
	}
	if c.MemoryMiB == 0 {
		c.MemoryMiB = 2048
	}
	if c.Timeout == 0 {
		c.Timeout = 40 * time.Minute
	}
	if c.TestTimeout == 0 {
		c.TestTimeout = 10 * time.Minute
	}
}

var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []string
	for _, b := range c.Backends {
		if b != "dummy" && b != "veth" {
			errs = append(errs, fmt.Sprintf("backend %q: want dummy or veth", b))
		}
	}
	switch c.Accel {
	case "auto", "kvm", "tcg":
	default:
		errs = append(errs, fmt.Sprintf("accel %q: want auto, kvm or tcg", c.Accel))
	}
	if c.MemoryMiB < 256 {
		errs = append(errs, fmt.Sprintf("memory %d MiB: need at least 256", c.MemoryMiB))
	}
	if c.CPUs < 0 || c.CPUs > 64 {
		errs = append(errs, fmt.Sprintf("cpus %d: want 1..64 (0 = auto)", c.CPUs))
	}
	if c.Timeout <= 0 || c.TestTimeout <= 0 {
		errs = append(errs, "timeouts must be positive")
	}
	for _, h := range c.Helpers {
		if n, p, ok := strings.Cut(h, "="); !ok || n == "" || p == "" || strings.Contains(n, "/") {
			errs = append(errs, fmt.Sprintf("helper %q: want name=package", h))
		}
	}
	for _, e := range c.Env {
		if !envKey.MatchString(e) {
			errs = append(errs, fmt.Sprintf("env %q: want KEY=VALUE", e))
		}
	}
	if st, err := os.Stat(filepath.Join(c.RepoDir, "go.mod")); err != nil || st.IsDir() {
		errs = append(errs, fmt.Sprintf("repo %q: no go.mod there", c.RepoDir))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}

type listFlag struct{ v *[]string }

func (l listFlag) String() string { return "" }
func (l listFlag) Set(s string) error {
	*l.v = append(*l.v, splitList(s)...)
	return nil
}

// repeatFlag collects a repeatable flag whose values may hold spaces or
// commas (KEY=VALUE).
type repeatFlag struct{ v *[]string }

func (l repeatFlag) String() string { return "" }
func (l repeatFlag) Set(s string) error {
	*l.v = append(*l.v, s)
	return nil
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
}

// ParseConfig reads flags, with ENILAB_VM_* environment variables as
// defaults (so `make vm-test ENILAB_VM_PKGS=./e2e` works).
func ParseConfig(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("vm-test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envList := func(k string) []string { return splitList(getenv(k)) }
	c.Packages = envList("ENILAB_VM_PKGS")
	c.Backends = envList("ENILAB_VM_BACKENDS")
	c.Modules = envList("ENILAB_VM_MODULES")
	c.HostTools = envList("ENILAB_VM_HOST_TOOLS")
	var pkgs, backends, modules, helpers, env, tools []string
	fs.Var(listFlag{&pkgs}, "pkgs", "packages to run (comma/space separated; env ENILAB_VM_PKGS; default: the privileged suites that exist)")
	fs.Var(listFlag{&backends}, "backends", "ENI backends for packages that use node/ (env ENILAB_VM_BACKENDS; default dummy,veth)")
	fs.Var(listFlag{&modules}, "modules", "kernel modules to load, dependencies follow (env ENILAB_VM_MODULES; default dummy,veth,8021q,xfrm_user,nfnetlink and the netfilter modules)")
	fs.Var(repeatFlag{&helpers}, "helper", "name=package built static onto the VM's PATH (repeatable; default aws-cni, cnitool)")
	fs.Var(listFlag{&tools}, "host-tools", "host programs copied in with their shared libraries (env ENILAB_VM_HOST_TOOLS; default ip)")
	fs.Var(repeatFlag{&env}, "env", "KEY=VALUE for every suite inside the VM (repeatable)")
	fs.StringVar(&c.LabelFilter, "label-filter", getenv("ENILAB_VM_LABEL_FILTER"), "ginkgo label filter for every run (env ENILAB_VM_LABEL_FILTER)")
	fs.StringVar(&c.DummyFilter, "dummy-filter", orDefault(getenv("ENILAB_VM_DUMMY_FILTER"), "!fabric"), "label filter and-ed in for dummy-backend runs (env ENILAB_VM_DUMMY_FILTER)")
	fs.StringVar(&c.Run, "run", getenv("ENILAB_VM_RUN"), "-test.run regexp for every test binary (env ENILAB_VM_RUN)")
	fs.StringVar(&c.KernelPkg, "kernel-pkg", getenv("ENILAB_VM_KERNEL"), "Debian kernel package (env ENILAB_VM_KERNEL; default: what linux-image-cloud-amd64 depends on)")
	fs.StringVar(&c.CacheDir, "cache", getenv("ENILAB_VM_CACHE"), "download cache (env ENILAB_VM_CACHE; default $XDG_CACHE_HOME/enilab-vm)")
	fs.StringVar(&c.OutDir, "out", getenv("ENILAB_VM_OUT"), "JUnit and logs (env ENILAB_VM_OUT; default bin/vm-test)")
	fs.StringVar(&c.Accel, "accel", getenv(vmenv.AccelEnv), "auto, kvm or tcg (env "+vmenv.AccelEnv+")")
	fs.IntVar(&c.MemoryMiB, "memory", atoiOr(getenv("ENILAB_VM_MEMORY"), 0), "VM memory in MiB (env ENILAB_VM_MEMORY; default 2048)")
	fs.IntVar(&c.CPUs, "cpus", atoiOr(getenv("ENILAB_VM_CPUS"), 0), "VM CPUs (env ENILAB_VM_CPUS; default 2 with KVM, 1 with TCG)")
	fs.DurationVar(&c.Timeout, "timeout", durOr(getenv("ENILAB_VM_TIMEOUT"), 0), "whole VM run limit (env ENILAB_VM_TIMEOUT; default 40m)")
	fs.DurationVar(&c.TestTimeout, "test-timeout", 0, "-test.timeout for each binary (default 10m)")
	fs.BoolVar(&c.Verbose, "v", getenv("ENILAB_VM_VERBOSE") != "", "ginkgo -v inside the VM")
	fs.BoolVar(&c.Keep, "keep", false, "keep the work directory (initramfs, binaries) and print where")
	fs.BoolVar(&c.Refresh, "refresh", false, "ask apt for the newest cloud kernel even if one is cached")
	fs.BoolVar(&c.List, "list", false, "print the initramfs listing and /init, do not boot")
	fs.StringVar(&c.RepoDir, "repo", "", "repository root (default: current directory)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		pkgs = append(pkgs, fs.Args()...)
	}
	if len(pkgs) > 0 {
		c.Packages = pkgs
	}
	c.explicitPkgs = len(c.Packages) > 0
	if len(backends) > 0 {
		c.Backends = backends
	}
	if len(modules) > 0 {
		c.Modules = modules
	}
	if len(tools) > 0 {
		c.HostTools = tools
	}
	c.Helpers, c.Env = helpers, env
	c.Defaults(getenv)
	return c, c.Validate()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func atoiOr(s string, d int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return d
}

func durOr(s string, d time.Duration) time.Duration {
	if v, err := time.ParseDuration(s); err == nil {
		return v
	}
	return d
}

// Run is the whole runner: build, assemble, boot, report. The error is an
// *ExitError with the suites' verdict, or what stopped the run.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := ParseConfig(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return &usageError{err}
	}
	r := &runner{cfg: cfg, out: stdout, log: stderr}
	return r.run(ctx)
}

type usageError struct{ err error }

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

type runner struct {
	cfg  *Config
	out  io.Writer
	log  io.Writer
	work string
}

func (r *runner) logf(format string, a ...any) { fmt.Fprintf(r.log, "vm-test: "+format+"\n", a...) }

// run builds the test binaries, assembles the initramfs, boots the VM and
// reports; each stage is a method below, in the order they run.
func (r *runner) run(ctx context.Context) error {
	cfg := r.cfg
	started := time.Now()
	work, err := os.MkdirTemp("", "enilab-vmtest-")
	if err != nil {
		return err
	}
	r.work = work
	defer func() {
		if cfg.Keep {
			r.logf("work directory kept: %s", work)
			return
		}
		os.RemoveAll(work)
	}()
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return fmt.Errorf("cache %s: %w", cfg.CacheDir, err)
	}

	b := &Builder{RepoDir: cfg.RepoDir, OutDir: filepath.Join(work, "bin")}
	pkgs, buildFailed := r.buildPackages(ctx, b)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(pkgs) == 0 {
		r.logf("nothing to run: no package built with tests")
		return &ExitError{Code: 1}
	}
	helpers := r.buildHelpers(ctx, b)
	tools := r.hostTools(ctx)

	kern, mods, busybox, err := r.debianParts(ctx)
	if err != nil {
		return err
	}
	suites := r.suites(pkgs)
	img, err := r.image(kern, mods, busybox, pkgs, helpers, tools, suites)
	if err != nil {
		return err
	}
	if cfg.List {
		for _, l := range img.Listing() {
			fmt.Fprintln(r.out, l)
		}
		fmt.Fprintf(r.out, "\n--- /init ---\n%s", InitScript(kern.Version, mods, suites, r.guestEnv(helpers)))
		return nil
	}
	qemu, err := EnsureQEMU(ctx, r.log)
	if err != nil {
		return err
	}
	initrd := filepath.Join(work, "initramfs.cpio")
	if err := writeImage(img, initrd); err != nil {
		return err
	}
	r.logf("initramfs %d MiB, kernel %s, modules %s", img.Size()>>20, kern.Version, modNames(mods))

	buildTime := time.Since(started)
	bt, err := r.boot(ctx, qemu, kern, initrd)
	if err != nil {
		return err
	}
	rep, err := r.collect()
	if err != nil {
		return err
	}
	return r.report(ctx, suites, buildFailed, rep, bt, started, buildTime)
}

// buildPackages builds a static test binary per package; packages that fail
// to build are returned apart so the summary names them.
func (r *runner) buildPackages(ctx context.Context, b *Builder) (pkgs, buildFailed []TestPkg) {
	for _, arg := range r.cfg.Packages {
		if isLocal(arg) {
			if _, err := os.Stat(filepath.Join(r.cfg.RepoDir, arg)); err != nil && !r.cfg.explicitPkgs {
				r.logf("skip %s: not in the tree", arg)
				continue
			}
		}
		p := b.Inspect(ctx, arg)
		if p.BuildErr == "" && !p.NoTests {
			t0 := time.Now()
			b.BuildTest(ctx, &p)
			if p.BuildErr == "" && !p.NoTests {
				r.logf("built %s (%s)", p.ImportPath, time.Since(t0).Round(100*time.Millisecond))
			}
		}
		switch {
		case p.BuildErr != "":
			r.logf("BUILD FAILED %s:\n%s", arg, indent(p.BuildErr))
			buildFailed = append(buildFailed, p)
		case p.NoTests:
			r.logf("skip %s: no test files", arg)
		default:
			pkgs = append(pkgs, p)
		}
	}
	return pkgs, buildFailed
}

// buildHelpers builds the helper binaries (name=package) the suites exec;
// one that fails is left out and said so.
func (r *runner) buildHelpers(ctx context.Context, b *Builder) map[string]string {
	helpers := map[string]string{}
	for _, h := range r.cfg.Helpers {
		name, pkg, _ := strings.Cut(h, "=")
		if isLocal(pkg) {
			if _, err := os.Stat(filepath.Join(r.cfg.RepoDir, pkg)); err != nil {
				r.logf("helper %s: %s not in the tree, skipped", name, pkg)
				continue
			}
		}
		p, err := b.BuildHelper(ctx, pkg, name)
		if err != nil {
			r.logf("helper %s not built (the tests that need it skip or fail): %v", name, err)
			continue
		}
		helpers[name] = p
	}
	return helpers
}

// hostTools finds the host binaries copied into the guest.
func (r *runner) hostTools(ctx context.Context) []HostTool {
	var tools []HostTool
	for _, name := range r.cfg.HostTools {
		if name == "none" {
			continue
		}
		t, err := FindHostTool(ctx, name)
		if err != nil {
			r.logf("host tool %v; the suites that need it see busybox's or none", err)
			continue
		}
		tools = append(tools, t)
	}
	return tools
}

// debianParts fetches (or reads from the cache) the kernel, its modules and
// busybox.
func (r *runner) debianParts(ctx context.Context) (Kernel, []Module, string, error) {
	f := &Fetcher{CacheDir: r.cfg.CacheDir, KernelPkg: r.cfg.KernelPkg, Refresh: r.cfg.Refresh, Log: r.log}
	kern, err := f.Kernel(ctx)
	if err != nil {
		return Kernel{}, nil, "", err
	}
	busybox, err := f.Busybox(ctx)
	if err != nil {
		return Kernel{}, nil, "", err
	}
	idx, err := LoadModIndex(kern.ModulesDir)
	if err != nil {
		return Kernel{}, nil, "", err
	}
	mods, err := idx.Resolve(r.cfg.Modules)
	if err != nil {
		return Kernel{}, nil, "", err
	}
	return kern, mods, busybox, nil
}

// bootOutcome is what booting the VM tells the report.
type bootOutcome struct {
	boot   time.Duration // to /init
	accel  string
	runErr error
}

// boot runs the VM, KVM first if it might work, falling back to the next
// accelerator when the guest never comes up.
func (r *runner) boot(ctx context.Context, qemu string, kern Kernel, initrd string) (bootOutcome, error) {
	cfg := r.cfg
	memo := accelMemo{path: filepath.Join(cfg.CacheDir, "accel")}
	accels, _ := ChooseAccel(cfg.Accel, memo)
	console, err := os.Create(filepath.Join(r.work, "console.log"))
	if err != nil {
		return bootOutcome{}, err
	}
	defer console.Close()
	var out bootOutcome
	for i, acc := range accels {
		_ = os.Remove(r.resultsLog())
		cpus := cfg.CPUs
		if cpus == 0 {
			cpus = 1
			if acc == "kvm" {
				cpus = 2
			}
		}
		up := 3 * time.Minute
		if acc == "kvm" {
			up = 20 * time.Second
		}
		vm := VM{QEMU: qemu, Kernel: kern.Vmlinuz, Initrd: initrd, MemoryMiB: cfg.MemoryMiB, CPUs: cpus,
			Accel: acc, BIOS: defaultBIOS(), Console: io.MultiWriter(&ansiStripper{w: r.out}, console), ResultsLog: r.resultsLog(),
			Timeout: cfg.Timeout, UpTimeout: up}
		r.logf("booting %s with %s, %d cpu, %d MiB", kern.Package, acc, cpus, cfg.MemoryMiB)
		out.boot, out.runErr = vm.Run(ctx)
		out.accel = acc
		var be *BootError
		if errors.As(out.runErr, &be) && i < len(accels)-1 && ctx.Err() == nil {
			r.logf("%v; falling back to %s", out.runErr, accels[i+1])
			if acc == "kvm" {
				memo.markKVMBroken()
			}
			continue
		}
		break
	}
	return out, nil
}

func (r *runner) resultsLog() string { return filepath.Join(r.work, "results.log") }

// collect parses what the guest sent back and refreshes the out directory,
// which holds the last run only: no stale JUnit from a suite this run did
// not select.
func (r *runner) collect() (*Report, error) {
	rep := &Report{Suites: map[string]SuiteResult{}, Files: map[string][]byte{}}
	if fh, err := os.Open(r.resultsLog()); err == nil {
		if rep, err = ParseResults(fh); err != nil {
			r.logf("%v", err)
		}
		fh.Close()
	}
	if err := os.MkdirAll(r.cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	for _, pat := range []string{"*.xml", "*.log"} {
		old, _ := filepath.Glob(filepath.Join(r.cfg.OutDir, pat))
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	_ = copyFile(filepath.Join(r.work, "console.log"), filepath.Join(r.cfg.OutDir, "console.log"))
	return rep, nil
}

// report prints the summary and turns it into the exit status.
func (r *runner) report(ctx context.Context, suites []Suite, buildFailed []TestPkg, rep *Report, bt bootOutcome, started time.Time, buildTime time.Duration) error {
	sum := r.summarize(suites, buildFailed, rep)
	fmt.Fprintln(r.out)
	for _, w := range rep.Warnings {
		r.logf("warning: %s", w)
	}
	if bt.runErr != nil {
		r.logf("%v", bt.runErr)
	}
	for _, l := range sum.lines {
		fmt.Fprintln(r.out, l)
	}
	inside := time.Duration(0)
	if rep.Done {
		inside = rep.DoneAt - rep.Up
	}
	fmt.Fprintf(r.out, "vm-test: %s boot to /init %s (guest uptime %s), suites %s inside the VM, total %s (build+assemble %s); JUnit and logs in %s\n",
		bt.accel, bt.boot.Round(100*time.Millisecond), rep.Up.Round(10*time.Millisecond), inside.Round(100*time.Millisecond),
		time.Since(started).Round(100*time.Millisecond), buildTime.Round(100*time.Millisecond), r.cfg.OutDir)
	fmt.Fprintf(r.out, "vm-test: %d suite(s): %d passed, %d failed\n", sum.suites, sum.suitesOK, sum.suites-sum.suitesOK)
	fmt.Fprintf(r.out, "vm-test: %d passed, %d failed, %d skipped\n", sum.passed, sum.failed, sum.skipped)
	if ctx.Err() != nil {
		return &ExitError{Code: 130}
	}
	if sum.suitesOK != sum.suites || !rep.Done {
		return &ExitError{Code: 1}
	}
	return nil
}

func (r *runner) suites(pkgs []TestPkg) []Suite {
	cfg := r.cfg
	var out []Suite
	for _, p := range pkgs {
		backends := []string{""}
		if p.UsesNode {
			backends = cfg.Backends
		}
		for _, be := range backends {
			id := strings.ReplaceAll(strings.Trim(p.Dir, "/"), "/", "-")
			if be != "" {
				id += "." + be
			}
			s := Suite{ID: id, Pkg: p.ImportPath, Dir: guestSrc + "/" + p.Dir, Backend: be, Ginkgo: p.Ginkgo,
				Binary: guestTests + "/" + filepath.Base(p.Binary), Env: map[string]string{}}
			if be != "" {
				s.Env[backendEnv] = be
			}
			s.Args = []string{"-test.v", "-test.timeout=" + cfg.TestTimeout.String()}
			if cfg.Run != "" {
				s.Args = append(s.Args, "-test.run="+cfg.Run)
			}
			if p.Ginkgo {
				filter := cfg.LabelFilter
				if be == "dummy" && cfg.DummyFilter != "" {
					filter = andFilter(filter, cfg.DummyFilter)
				}
				if filter != "" {
					s.Args = append(s.Args, "-ginkgo.label-filter="+filter)
				}
				s.Args = append(s.Args, "-ginkgo.junit-report="+resultsDir+"/"+id+".xml", "-ginkgo.no-color")
				if cfg.Verbose {
					s.Args = append(s.Args, "-ginkgo.v")
				}
			}
			out = append(out, s)
		}
	}
	return out
}

func andFilter(a, b string) string {
	if a == "" {
		return b
	}
	return "(" + a + ") && (" + b + ")"
}

func (r *runner) image(k Kernel, mods []Module, busybox string, pkgs []TestPkg, helpers map[string]string, tools []HostTool, suites []Suite) (*Image, error) {
	cfg := r.cfg
	img := NewImage()
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/root", "/etc", "/bin", "/sbin", "/usr/bin", "/usr/sbin", guestBinDir, guestTests, resultsDir} {
		add(img.Dir(d, 0o755))
	}
	add(img.Dir("/tmp", 0o1777))
	add(img.CharDev("/dev/console", 0o600, 5, 1))
	add(img.CharDev("/dev/null", 0o666, 1, 3))
	add(img.File("/bin/busybox", busybox, 0o755))
	add(img.Symlink("/bin/sh", "busybox"))
	add(img.Symlink("/var/run", "../run"))
	add(img.Bytes("/etc/hosts", []byte("127.0.0.1 localhost\n::1 localhost\n"), 0o644))
	add(img.Bytes("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644))
	add(img.Bytes("/etc/group", []byte("root:x:0:\n"), 0o644))
	for _, m := range mods {
		add(img.File(guestModuleDir+k.Version+"/"+m.Path, filepath.Join(k.ModulesDir, filepath.FromSlash(m.Path)), 0o644))
	}
	add(img.Bytes(guestModuleDir+k.Version+"/modules.dep", []byte(ModulesDep(mods)), 0o644))
	// The repository, so tests find their testdata and relative files as
	// under go test (binaries run in their package directory).
	add(img.Tree(guestSrc, cfg.RepoDir, map[string]bool{".git": true, "bin": true, ".cache": true, "node_modules": true}, 4<<20))
	for _, p := range pkgs {
		add(img.File(guestTests+"/"+filepath.Base(p.Binary), p.Binary, 0o755))
	}
	for name, p := range helpers {
		add(img.File(guestBinDir+"/"+name, p, 0o755))
		add(img.Symlink(guestSrc+"/bin/"+name, guestBinDir+"/"+name))
	}
	for _, t := range tools {
		for _, f := range t.Files {
			real, err := filepath.EvalSymlinks(f)
			if err != nil {
				add(fmt.Errorf("host tool %s: %w", t.Name, err))
				continue
			}
			add(img.File(f, real, 0o644))
		}
		add(img.File(guestBinDir+"/"+t.Name, t.Path, 0o755))
		for _, lib := range t.Libs {
			real, err := filepath.EvalSymlinks(lib)
			if err != nil {
				add(fmt.Errorf("host tool %s: %w", t.Name, err))
				continue
			}
			add(img.File(lib, real, 0o755))
		}
	}
	add(img.Bytes("/init", []byte(InitScript(k.Version, mods, suites, r.guestEnv(helpers))), 0o755))
	return img, errors.Join(errs...)
}

// guestEnv is the environment every suite sees inside the VM.
func (r *runner) guestEnv(helpers map[string]string) map[string]string {
	env := map[string]string{}
	if _, ok := helpers["cnitool"]; ok {
		env["ENILAB_CNITOOL"] = guestBinDir + "/cnitool"
	}
	for _, e := range r.cfg.Env {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	return env
}

func writeImage(img *Image, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := img.WriteCPIO(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type summary struct {
	lines                   []string
	suites, suitesOK        int
	passed, failed, skipped int
}

// summarize writes each suite's log and JUnit to OutDir and tallies them.
func (r *runner) summarize(suites []Suite, buildFailed []TestPkg, rep *Report) summary {
	var s summary
	for _, p := range buildFailed {
		s.suites++
		s.failed++
		s.lines = append(s.lines, fmt.Sprintf("BUILD FAILED  %s", p.Arg))
		doc, _ := xml.MarshalIndent(junitSuites{Suites: []junitSuite{{Name: p.Arg, Tests: 1, Failures: 1, Time: "0",
			Cases: []junitCase{{Name: "(build)", Classname: p.Arg, Time: "0", Failure: &junitMessage{Message: "build failed", Body: p.BuildErr}}}}}}, "", "  ")
		_ = os.WriteFile(filepath.Join(r.cfg.OutDir, strings.Trim(strings.ReplaceAll(p.Arg, "/", "-"), ".-")+".build.xml"), append([]byte(xml.Header), doc...), 0o644)
	}
	for _, st := range suites {
		s.suites++
		res, reported := rep.Suites[st.ID]
		out := rep.Files[st.ID+".out"]
		_ = os.WriteFile(filepath.Join(r.cfg.OutDir, st.ID+".log"), out, 0o644)
		var doc []byte
		if x, ok := rep.Files[st.ID+".xml"]; ok && st.Ginkgo {
			doc = x
		} else if reported {
			doc, _ = GoTestJUnit(st.Label(), out, res.Exit)
		}
		p, f, sk := countJUnit(doc)
		s.passed, s.failed, s.skipped = s.passed+p, s.failed+f, s.skipped+sk
		if doc != nil {
			_ = os.WriteFile(filepath.Join(r.cfg.OutDir, st.ID+".xml"), doc, 0o644)
		}
		switch {
		case !reported:
			s.failed++
			s.lines = append(s.lines, fmt.Sprintf("NO RESULT     %s (the VM did not report it)", st.Label()))
		case res.Exit != 0:
			if f == 0 {
				s.failed++
			}
			s.lines = append(s.lines, fmt.Sprintf("FAIL          %s (exit %d, %s)", st.Label(), res.Exit, res.Duration.Round(10*time.Millisecond)))
		default:
			s.suitesOK++
			s.lines = append(s.lines, fmt.Sprintf("ok            %s (%s; %d passed, %d skipped)", st.Label(), res.Duration.Round(10*time.Millisecond), p, sk))
		}
	}
	return s
}

// countJUnit tallies a JUnit document (ours or ginkgo's).
func countJUnit(doc []byte) (passed, failed, skipped int) {
	if len(doc) == 0 {
		return
	}
	var d struct {
		Suites []struct {
			Cases []struct {
				Failure *struct{} `xml:"failure"`
				Error   *struct{} `xml:"error"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if xml.Unmarshal(doc, &d) != nil {
		return
	}
	for _, su := range d.Suites {
		for _, c := range su.Cases {
			switch {
			case c.Failure != nil || c.Error != nil:
				failed++
			case c.Skipped != nil:
				skipped++
			default:
				passed++
			}
		}
	}
	return
}

func isLocal(p string) bool {
	return strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") || p == "."
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

func modNames(mods []Module) string {
	var n []string
	for _, m := range mods {
		n = append(n, m.Name)
	}
	if len(n) == 0 {
		return "(none needed)"
	}
	return strings.Join(n, ",")
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// ansiStripper drops terminal escape sequences (SeaBIOS clears the screen
// on the serial console) so the log stays readable.
type ansiStripper struct{ w io.Writer }

var reANSI = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|c)`)

func (a *ansiStripper) Write(p []byte) (int, error) {
	_, err := a.w.Write(reANSI.ReplaceAll(p, nil))
	return len(p), err
}
