package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Fetcher gets the VM's Debian parts (a cloud kernel and busybox-static)
// with apt-get download and unpacks them with dpkg-deb into the cache,
// never into the host's /boot or /lib/modules. What is cached is used as is:
// a second run asks apt nothing.
type Fetcher struct {
	CacheDir  string
	KernelPkg string // "" = what linux-image-cloud-amd64 depends on
	Refresh   bool   // ask apt for the current kernel even when one is cached
	Log       io.Writer
	updated   bool
}

// Kernel is an unpacked kernel package.
type Kernel struct {
	Package    string
	Version    string // uname -r
	Vmlinuz    string
	ModulesDir string // …/lib/modules/<Version>
}

const kernelMeta = "linux-image-cloud-amd64"

// Kernel returns the cached kernel, downloading it first when needed.
func (f *Fetcher) Kernel(ctx context.Context) (Kernel, error) {
	pkg := f.KernelPkg
	current := filepath.Join(f.CacheDir, "kernel.current")
	if pkg == "" && !f.Refresh {
		if b, err := os.ReadFile(current); err == nil {
			if k, err := f.unpackedKernel(strings.TrimSpace(string(b))); err == nil {
				return k, nil
			}
		}
	}
	if pkg == "" {
		var err error
		if pkg, err = f.resolveKernel(ctx); err != nil {
			return Kernel{}, err
		}
	}
	if k, err := f.unpackedKernel(pkg); err == nil {
		_ = os.WriteFile(current, []byte(pkg+"\n"), 0o644)
		return k, nil
	}
	if err := f.fetch(ctx, pkg, filepath.Join(f.CacheDir, "pkg", pkg)); err != nil {
		return Kernel{}, err
	}
	k, err := f.unpackedKernel(pkg)
	if err != nil {
		return Kernel{}, fmt.Errorf("kernel package %s: %w", pkg, err)
	}
	_ = os.WriteFile(current, []byte(pkg+"\n"), 0o644)
	return k, nil
}

func (f *Fetcher) unpackedKernel(pkg string) (Kernel, error) {
	root := filepath.Join(f.CacheDir, "pkg", pkg)
	vm, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(vm) != 1 {
		return Kernel{}, fmt.Errorf("no single boot/vmlinuz-* in %s", root)
	}
	ver := strings.TrimPrefix(filepath.Base(vm[0]), "vmlinuz-")
	mods := filepath.Join(root, "lib", "modules", ver)
	if _, err := os.Stat(mods); err != nil {
		// Debian ≥ 13 ships modules under /usr/lib.
		mods = filepath.Join(root, "usr", "lib", "modules", ver)
		if _, err := os.Stat(mods); err != nil {
			return Kernel{}, fmt.Errorf("no modules for %s in %s", ver, root)
		}
	}
	return Kernel{Package: pkg, Version: ver, Vmlinuz: vm[0], ModulesDir: mods}, nil
}

// resolveKernel asks apt which versioned package the cloud meta-package
// stands for.
func (f *Fetcher) resolveKernel(ctx context.Context) (string, error) {
	for attempt := 0; ; attempt++ {
		out, err := exec.CommandContext(ctx, "apt-cache", "depends", kernelMeta).CombinedOutput()
		if err == nil {
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
				if ok && k == "Depends" && strings.HasPrefix(strings.TrimSpace(v), "linux-image-") {
					return strings.TrimSpace(v), nil
				}
			}
		}
		if attempt == 0 && f.aptUpdate(ctx) {
			continue
		}
		return "", fmt.Errorf("cannot resolve %s with apt-cache (a Debian or Ubuntu host with apt is needed; or set -kernel-pkg): %s",
			kernelMeta, strings.TrimSpace(string(out)))
	}
}

// Busybox returns the path of the cached static busybox.
func (f *Fetcher) Busybox(ctx context.Context) (string, error) {
	dir := filepath.Join(f.CacheDir, "pkg", "busybox-static")
	bin := filepath.Join(dir, "bin", "busybox")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := f.fetch(ctx, "busybox-static", dir); err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("busybox-static: no bin/busybox in the package")
	}
	return bin, nil
}

// fetch downloads one package and unpacks it at dir, atomically: a run
// interrupted half-way leaves no half-unpacked directory behind.
func (f *Fetcher) fetch(ctx context.Context, pkg, dir string) error {
	debs := filepath.Join(f.CacheDir, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return err
	}
	deb, err := f.download(ctx, pkg, debs)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".unpack-")
	if err != nil {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return err
		}
		if tmp, err = os.MkdirTemp(filepath.Dir(dir), ".unpack-"); err != nil {
			return err
		}
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb -x %s: %v: %s", filepath.Base(deb), err, strings.TrimSpace(string(out)))
	}
	_ = os.RemoveAll(dir)
	return os.Rename(tmp, dir)
}

func (f *Fetcher) download(ctx context.Context, pkg, dir string) (string, error) {
	for attempt := 0; ; attempt++ {
		fmt.Fprintf(f.Log, "vm-test: apt-get download %s\n", pkg)
		cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err == nil {
			matches, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
			if len(matches) > 0 {
				return newest(matches), nil
			}
			err = errors.New("no .deb appeared")
		}
		if attempt == 0 && f.aptUpdate(ctx) {
			continue
		}
		return "", fmt.Errorf("apt-get download %s: %v: %s", pkg, err, lastLines(string(out), 5))
	}
}

// aptUpdate refreshes apt's lists once per run, only as root (a fresh
// machine or container often has none). It reports whether it ran.
func (f *Fetcher) aptUpdate(ctx context.Context) bool {
	if f.updated || os.Geteuid() != 0 {
		return false
	}
	f.updated = true
	fmt.Fprintln(f.Log, "vm-test: apt-get update")
	_ = exec.CommandContext(ctx, "apt-get", "update", "-qq").Run()
	return true
}

// EnsureQEMU finds qemu-system-x86_64, installing Debian's qemu-system-x86
// when it is missing and we are root.
func EnsureQEMU(ctx context.Context, log io.Writer) (string, error) {
	if p, err := exec.LookPath("qemu-system-x86_64"); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", errors.New("qemu-system-x86_64 not found: install it (Debian: apt-get install qemu-system-x86)")
	}
	fmt.Fprintln(log, "vm-test: installing qemu-system-x86 (Debian)")
	install := func() ([]byte, error) {
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "qemu-system-x86")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	out, err := install()
	if err != nil {
		_ = exec.CommandContext(ctx, "apt-get", "update", "-qq").Run()
		if out, err = install(); err != nil {
			return "", fmt.Errorf("apt-get install qemu-system-x86: %v: %s", err, lastLines(string(out), 5))
		}
	}
	return exec.LookPath("qemu-system-x86_64")
}

func newest(paths []string) string {
	best, bestT := paths[0], int64(0)
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.ModTime().UnixNano() > bestT {
			best, bestT = p, st.ModTime().UnixNano()
		}
	}
	return best
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
