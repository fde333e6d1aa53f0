package main

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// EntryKind is what an initramfs entry is.
type EntryKind int

const (
	KindDir EntryKind = iota
	KindFile
	KindSymlink
	KindCharDev
)

// Entry is one path in the initramfs. A file's content comes from Src (a
// host file, streamed) or Data (inline).
type Entry struct {
	Path         string // absolute path inside the image
	Kind         EntryKind
	Perm         fs.FileMode // Unix permission bits, 0o1777 for a sticky /tmp
	Src          string
	Data         []byte
	Target       string // symlink target
	Major, Minor uint32 // device numbers
	size         int64
}

// Image is the planned content of an initramfs. Adding a path creates its
// parent directories; adding a path twice keeps the last one.
type Image struct {
	entries map[string]*Entry
}

// NewImage returns an image holding only the root directory.
func NewImage() *Image {
	return &Image{entries: map[string]*Entry{"/": {Path: "/", Kind: KindDir, Perm: 0o755}}}
}

func (im *Image) put(e *Entry) error {
	p := path.Clean("/" + e.Path)
	if p == "/" && e.Kind != KindDir {
		return fmt.Errorf("initramfs: cannot replace / with a non-directory")
	}
	e.Path = p
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		if old, ok := im.entries[dir]; ok {
			if old.Kind != KindDir {
				return fmt.Errorf("initramfs: %s needs %s to be a directory", p, dir)
			}
			continue
		}
		im.entries[dir] = &Entry{Path: dir, Kind: KindDir, Perm: 0o755}
	}
	if old, ok := im.entries[p]; ok && old.Kind == KindDir && e.Kind == KindDir {
		old.Perm = e.Perm
		return nil
	}
	im.entries[p] = e
	return nil
}

// Dir adds a directory.
func (im *Image) Dir(p string, perm fs.FileMode) error {
	return im.put(&Entry{Path: p, Kind: KindDir, Perm: perm})
}

// File adds a host file; its size is read now so a missing file fails early.
func (im *Image) File(p, src string, perm fs.FileMode) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", p, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("initramfs: %s: %s is not a regular file", p, src)
	}
	return im.put(&Entry{Path: p, Kind: KindFile, Perm: perm, Src: src, size: st.Size()})
}

// Bytes adds a file with inline content.
func (im *Image) Bytes(p string, data []byte, perm fs.FileMode) error {
	return im.put(&Entry{Path: p, Kind: KindFile, Perm: perm, Data: data, size: int64(len(data))})
}

// Symlink adds a symbolic link.
func (im *Image) Symlink(p, target string) error {
	return im.put(&Entry{Path: p, Kind: KindSymlink, Perm: 0o777, Target: target})
}

// CharDev adds a character device node (the kernel needs /dev/console before
// /init runs, or init starts without stdout).
func (im *Image) CharDev(p string, perm fs.FileMode, major, minor uint32) error {
	return im.put(&Entry{Path: p, Kind: KindCharDev, Perm: perm, Major: major, Minor: minor})
}

// Tree adds every regular file and directory under the host directory src at
// p, skipping the directory names in skip, files larger than maxSize, and
// built test binaries (*.test) left in the tree.
func (im *Image) Tree(p, src string, skip map[string]bool, maxSize int64) error {
	return filepath.WalkDir(src, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, hp)
		dst := path.Join(p, filepath.ToSlash(rel))
		if d.IsDir() {
			if rel != "." && skip[d.Name()] {
				return filepath.SkipDir
			}
			return im.Dir(dst, 0o755)
		}
		if !d.Type().IsRegular() || strings.HasSuffix(d.Name(), ".test") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if maxSize > 0 && info.Size() > maxSize {
			return nil
		}
		return im.File(dst, hp, info.Mode().Perm()&0o755|0o644)
	})
}

// Entries returns the entries sorted by path, so parents come first.
func (im *Image) Entries() []*Entry {
	out := make([]*Entry, 0, len(im.entries))
	for _, e := range im.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Listing describes the image one line per entry, like `ls -l` reduced to
// what matters: kind, permissions, path, and target or size.
func (im *Image) Listing() []string {
	var lines []string
	for _, e := range im.Entries() {
		switch e.Kind {
		case KindDir:
			lines = append(lines, fmt.Sprintf("d %04o %s", e.Perm, e.Path))
		case KindFile:
			lines = append(lines, fmt.Sprintf("f %04o %s %d", e.Perm, e.Path, e.size))
		case KindSymlink:
			lines = append(lines, fmt.Sprintf("l %s -> %s", e.Path, e.Target))
		case KindCharDev:
			lines = append(lines, fmt.Sprintf("c %04o %s %d,%d", e.Perm, e.Path, e.Major, e.Minor))
		}
	}
	return lines
}

// Size is the total size of the file contents.
func (im *Image) Size() int64 {
	var n int64
	for _, e := range im.entries {
		n += e.size
	}
	return n
}

// WriteCPIO writes the image as an uncompressed cpio "newc" archive, the
// format the kernel unpacks into its rootfs. Uncompressed: the kernel unpacks
// it faster than it could decompress, and the host saves the compression.
func (im *Image) WriteCPIO(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	ino := uint32(300000)
	for _, e := range im.Entries() {
		ino++
		name := strings.TrimPrefix(e.Path, "/")
		if name == "" {
			name = "."
		}
		var mode uint32
		var body io.Reader
		var size int64
		var file *os.File
		switch e.Kind {
		case KindDir:
			mode = 0o040000
		case KindFile:
			mode = 0o100000
			size = e.size
			if e.Src != "" {
				f, err := os.Open(e.Src)
				if err != nil {
					return fmt.Errorf("initramfs: %w", err)
				}
				file = f
				body = io.LimitReader(f, size)
			} else {
				body = strings.NewReader(string(e.Data))
			}
		case KindSymlink:
			mode = 0o120000
			size = int64(len(e.Target))
			body = strings.NewReader(e.Target)
		case KindCharDev:
			mode = 0o020000
		}
		mode |= uint32(e.Perm) & 0o7777
		nlink := uint32(1)
		if e.Kind == KindDir {
			nlink = 2
		}
		if err := writeHeader(bw, ino, mode, nlink, uint32(size), e.Major, e.Minor, name); err != nil {
			if file != nil {
				file.Close()
			}
			return err
		}
		if body != nil {
			n, err := io.Copy(bw, body)
			if file != nil {
				file.Close()
			}
			if err != nil {
				return fmt.Errorf("initramfs: %s: %w", e.Path, err)
			}
			if n != size {
				return fmt.Errorf("initramfs: %s changed size while writing (%d of %d bytes)", e.Path, n, size)
			}
			if err := pad(bw, size); err != nil {
				return err
			}
		}
	}
	if err := writeHeader(bw, 0, 0, 1, 0, 0, 0, "TRAILER!!!"); err != nil {
		return err
	}
	return bw.Flush()
}

func writeHeader(w *bufio.Writer, ino, mode, nlink, size, rmaj, rmin uint32, name string) error {
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
	// rdevmajor, rdevminor, namesize (with NUL), check
	_, err := fmt.Fprintf(w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, size, 0, 0, rmaj, rmin, len(name)+1, 0)
	if err != nil {
		return err
	}
	if _, err := w.WriteString(name + "\x00"); err != nil {
		return err
	}
	return pad(w, int64(110+len(name)+1))
}

func pad(w *bufio.Writer, n int64) error {
	if r := n % 4; r != 0 {
		_, err := w.Write(make([]byte, 4-r))
		return err
	}
	return nil
}
