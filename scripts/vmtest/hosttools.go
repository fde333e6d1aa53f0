package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// HostTool is a dynamically linked program of the host (iproute2's ip, for
// the suites that shell out to it) copied into the VM with the shared
// libraries it needs, at the same paths, so the host's ld.so finds them.
// busybox has an `ip` too, but not one that knows `ip rule` or `ip netns`.
type HostTool struct {
	Name string
	Path string   // resolved host path
	Libs []string // shared objects, the dynamic loader included
	// Files are more files the tool loads at run time, copied to the same
	// paths: iptables' extensions (libxt_*.so), which it dlopens.
	Files []string
}

// runtimeFiles are, per tool, globs of the files it loads at run time.
var runtimeFiles = map[string][]string{
	"iptables": {"/usr/lib/*/xtables/*.so", "/usr/lib/xtables/*.so"},
}

// FindHostTool locates name on the host PATH (plus the sbin directories)
// and asks ldd what it links.
func FindHostTool(ctx context.Context, name string) (HostTool, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
			if q, err2 := exec.LookPath(filepath.Join(d, name)); err2 == nil {
				p, err = q, nil
				break
			}
		}
	}
	if err != nil {
		return HostTool{}, fmt.Errorf("%s: not found on the host", name)
	}
	out, err := exec.CommandContext(ctx, "ldd", p).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "not a dynamic executable") {
		return HostTool{}, fmt.Errorf("ldd %s: %v: %s", p, err, strings.TrimSpace(string(out)))
	}
	if m := MissingLibs(string(out)); len(m) > 0 {
		return HostTool{}, fmt.Errorf("%s: libraries not found on the host: %s", p, strings.Join(m, ", "))
	}
	t := HostTool{Name: name, Path: p, Libs: ParseLdd(string(out))}
	for _, g := range runtimeFiles[name] {
		files, _ := filepath.Glob(g)
		t.Files = append(t.Files, files...)
	}
	for _, f := range t.Files {
		// The extensions link libraries of their own (libm,
		// libnetfilter_conntrack, …).
		out, err := exec.CommandContext(ctx, "ldd", f).CombinedOutput()
		if err != nil {
			return HostTool{}, fmt.Errorf("ldd %s: %v: %s", f, err, strings.TrimSpace(string(out)))
		}
		for _, lib := range ParseLdd(string(out)) {
			if !slices.Contains(t.Libs, lib) {
				t.Libs = append(t.Libs, lib)
			}
		}
	}
	return t, nil
}

// ParseLdd returns the absolute paths of the shared objects in ldd output:
// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" and the loader line
// "/lib64/ld-linux-x86-64.so.2 (0x…)"; the vDSO and unresolved ones are left
// out (a "not found" library is the caller's problem to report).
func ParseLdd(out string) []string {
	var libs []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var p string
		if _, rhs, ok := strings.Cut(line, "=>"); ok {
			p = strings.TrimSpace(rhs)
		} else {
			p = line
		}
		if i := strings.Index(p, " ("); i >= 0 {
			p = p[:i]
		}
		if !strings.HasPrefix(p, "/") || seen[p] {
			continue
		}
		seen[p] = true
		libs = append(libs, p)
	}
	return libs
}

// MissingLibs lists the libraries ldd could not find.
func MissingLibs(out string) []string {
	var missing []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "=> not found") {
			missing = append(missing, strings.TrimSpace(strings.Split(l, "=>")[0]))
		}
	}
	return missing
}
