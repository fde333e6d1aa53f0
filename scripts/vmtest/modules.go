package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Module is one loadable kernel module: where it lives under the kernel's
// module directory and which modules must be loaded before it.
type Module struct {
	Name string   // canonical name: dashes folded to underscores, no suffix
	Path string   // relative to /lib/modules/<version>, e.g. kernel/drivers/net/veth.ko
	Deps []string // direct dependencies, canonical names
}

// ModIndex knows every module of one kernel, and which are built in (those
// need no loading).
type ModIndex struct {
	Modules map[string]Module
	Builtin map[string]bool

	dir    string          // set when dependencies come from .modinfo
	loaded map[string]bool // modules whose .modinfo has been read
}

// modName folds a module's file or depends= name to the kernel's canonical
// form, as modprobe does: basename, suffix dropped, '-' → '_'.
func modName(s string) string {
	s = filepath.Base(strings.TrimSpace(s))
	for _, ext := range []string{".ko.xz", ".ko.zst", ".ko.gz", ".ko"} {
		s = strings.TrimSuffix(s, ext)
	}
	return strings.ReplaceAll(s, "-", "_")
}

// ParseModulesDep reads depmod's modules.dep ("path: dep-path dep-path…").
func ParseModulesDep(r io.Reader) (map[string]Module, error) {
	mods := map[string]Module{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		path, rest, ok := strings.Cut(text, ":")
		if !ok || strings.TrimSpace(path) == "" {
			return nil, fmt.Errorf("modules.dep line %d: want \"path: deps…\", got %q", line, text)
		}
		m := Module{Name: modName(path), Path: strings.TrimSpace(path)}
		for _, d := range strings.Fields(rest) {
			m.Deps = append(m.Deps, modName(d))
		}
		mods[m.Name] = m
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modules.dep: %w", err)
	}
	return mods, nil
}

// ParseModinfo returns the direct dependencies named in a module's .modinfo
// section (NUL-separated key=value pairs; "depends=a,b").
func ParseModinfo(modinfo []byte) (name string, deps []string) {
	for _, kv := range bytes.Split(modinfo, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			name = modName(v)
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					deps = append(deps, modName(d))
				}
			}
		}
	}
	return name, deps
}

// readModinfo reads the .modinfo section of an uncompressed module.
func readModinfo(path string) ([]byte, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("module %s: no .modinfo section", path)
	}
	return s.Data()
}

// LoadModIndex indexes the modules under dir (/lib/modules/<version> of an
// extracted kernel package). It uses modules.dep when depmod has run there;
// a kernel .deb does not ship one, so otherwise it reads each module's own
// .modinfo — lazily, only for modules that Resolve asks about.
func LoadModIndex(dir string) (*ModIndex, error) {
	idx := &ModIndex{Modules: map[string]Module{}, Builtin: map[string]bool{}}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			idx.Builtin[modName(l)] = true
		}
	}
	if f, err := os.Open(filepath.Join(dir, "modules.dep")); err == nil {
		defer f.Close()
		mods, err := ParseModulesDep(f)
		if err != nil {
			return nil, err
		}
		idx.Modules = mods
		return idx, nil
	}
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.Contains(d.Name(), ".ko") {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		idx.Modules[modName(p)] = Module{Name: modName(p), Path: rel, Deps: nil}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("indexing kernel modules in %s: %w", dir, err)
	}
	idx.dir = dir
	idx.loaded = map[string]bool{}
	return idx, nil
}

func (x *ModIndex) deps(name string) ([]string, error) {
	m := x.Modules[name]
	if x.dir != "" && !x.loaded[name] {
		path := filepath.Join(x.dir, m.Path)
		if !strings.HasSuffix(path, ".ko") {
			return nil, fmt.Errorf("module %s is compressed (%s); only uncompressed modules are supported", name, m.Path)
		}
		info, err := readModinfo(path)
		if err != nil {
			return nil, err
		}
		_, m.Deps = ParseModinfo(info)
		x.Modules[name] = m
		x.loaded[name] = true
	}
	return m.Deps, nil
}

// Resolve returns the modules to load for the wanted names, dependencies
// first, each once; built-in modules are left out. An unknown module is an
// error naming it (and who needed it).
func (x *ModIndex) Resolve(wanted []string) ([]Module, error) {
	var (
		order []Module
		state = map[string]int{} // 1 visiting, 2 done
		errs  []string
	)
	var visit func(name, from string) error
	visit = func(name, from string) error {
		name = modName(name)
		if x.Builtin[name] {
			return nil
		}
		switch state[name] {
		case 1:
			return fmt.Errorf("module dependency cycle through %s", name)
		case 2:
			return nil
		}
		if _, ok := x.Modules[name]; !ok {
			if from != "" {
				return fmt.Errorf("module %s (needed by %s) not found in the kernel", name, from)
			}
			return fmt.Errorf("module %s not found in the kernel (nor built in)", name)
		}
		state[name] = 1
		deps, err := x.deps(name)
		if err != nil {
			return err
		}
		sorted := append([]string(nil), deps...)
		sort.Strings(sorted)
		for _, d := range sorted {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		m := x.Modules[name]
		order = append(order, Module{Name: m.Name, Path: m.Path, Deps: deps})
		return nil
	}
	for _, w := range wanted {
		if err := visit(w, ""); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("kernel modules: %s", strings.Join(errs, "; "))
	}
	return order, nil
}

// ModulesDep renders depmod's modules.dep for the given modules (as Resolve
// returns them), so the VM's modprobe — and the kernel's on-demand loading,
// which calls it — finds them. Each line lists the module's dependencies,
// transitively, in the order depmod uses: the one to load first comes last.
func ModulesDep(mods []Module) string {
	byName := map[string]Module{}
	for _, m := range mods {
		byName[m.Name] = m
	}
	var b strings.Builder
	for _, m := range mods {
		var closure []string
		seen := map[string]bool{}
		var walk func(string)
		walk = func(n string) {
			for _, d := range byName[n].Deps {
				if seen[d] {
					continue
				}
				seen[d] = true
				walk(d)
				if dm, ok := byName[d]; ok {
					closure = append(closure, dm.Path)
				}
			}
		}
		walk(m.Name)
		for i, j := 0, len(closure)-1; i < j; i, j = i+1, j-1 {
			closure[i], closure[j] = closure[j], closure[i]
		}
		b.WriteString(m.Path + ":")
		for _, p := range closure {
			b.WriteString(" " + p)
		}
		b.WriteString("\n")
	}
	return b.String()
}
