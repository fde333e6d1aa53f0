package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type cpioEntry struct {
	name       string
	mode       uint32
	rmaj, rmin uint32
	data       string
}

// readNewc is an independent reader of the newc format, as the kernel's
// unpacker sees it: 110-byte header, name, NUL, padding to 4, data, padding.
func readNewc(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	field := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
		require.NoError(t, err)
		return uint32(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		require.LessOrEqual(t, off+110, len(b), "truncated header")
		require.Equal(t, "070701", string(b[off:off+6]), "magic at %d", off)
		require.Zero(t, off%4, "header alignment")
		mode, size, rmaj, rmin, nsize := field(1), field(6), field(9), field(10), field(11)
		name := string(b[off+110 : off+110+int(nsize)-1])
		require.Equal(t, byte(0), b[off+110+int(nsize)-1])
		data := align(off + 110 + int(nsize))
		end := data + int(size)
		if name == "TRAILER!!!" {
			assert.Equal(t, len(b), align(end), "nothing after the trailer")
			return out
		}
		out = append(out, cpioEntry{name: name, mode: mode, rmaj: rmaj, rmin: rmin, data: string(b[data:end])})
		off = align(end)
	}
}

func TestImageListingAndArchive(t *testing.T) {
	src := filepath.Join(t.TempDir(), "busybox")
	require.NoError(t, os.WriteFile(src, []byte("#!fake busybox"), 0o755))

	img := NewImage()
	require.NoError(t, img.File("/bin/busybox", src, 0o755))
	require.NoError(t, img.Symlink("/bin/sh", "busybox"))
	require.NoError(t, img.CharDev("/dev/console", 0o600, 5, 1))
	require.NoError(t, img.Bytes("/init", []byte("#!/bin/sh\n"), 0o755))
	require.NoError(t, img.Dir("/tmp", 0o755))
	require.NoError(t, img.Dir("/tmp", 0o1777)) // re-adding a directory updates its mode
	require.NoError(t, img.Bytes("/lib/modules/6.1/kernel/drivers/net/dummy.ko", []byte("ELF"), 0o644))

	assert.Equal(t, []string{
		"d 0755 /",
		"d 0755 /bin",
		"f 0755 /bin/busybox 14",
		"l /bin/sh -> busybox",
		"d 0755 /dev",
		"c 0600 /dev/console 5,1",
		"f 0755 /init 10",
		"d 0755 /lib",
		"d 0755 /lib/modules",
		"d 0755 /lib/modules/6.1",
		"d 0755 /lib/modules/6.1/kernel",
		"d 0755 /lib/modules/6.1/kernel/drivers",
		"d 0755 /lib/modules/6.1/kernel/drivers/net",
		"f 0644 /lib/modules/6.1/kernel/drivers/net/dummy.ko 3",
		"d 1777 /tmp",
	}, img.Listing())
	assert.Equal(t, int64(27), img.Size())

	var buf bytes.Buffer
	require.NoError(t, img.WriteCPIO(&buf))
	got := map[string]cpioEntry{}
	var order []string
	for _, e := range readNewc(t, buf.Bytes()) {
		got[e.name] = e
		order = append(order, e.name)
	}
	assert.Equal(t, ".", order[0], "the root comes first")
	assert.Less(t, indexOf(order, "bin"), indexOf(order, "bin/busybox"), "parents before children")
	assert.Equal(t, uint32(0o100755), got["bin/busybox"].mode)
	assert.Equal(t, "#!fake busybox", got["bin/busybox"].data)
	assert.Equal(t, uint32(0o120777), got["bin/sh"].mode)
	assert.Equal(t, "busybox", got["bin/sh"].data)
	assert.Equal(t, uint32(0o020600), got["dev/console"].mode)
	assert.Equal(t, [2]uint32{5, 1}, [2]uint32{got["dev/console"].rmaj, got["dev/console"].rmin})
	assert.Equal(t, uint32(0o041777), got["tmp"].mode)
	assert.Equal(t, "#!/bin/sh\n", got["init"].data)
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestImageRejectsBadPaths(t *testing.T) {
	img := NewImage()
	require.NoError(t, img.Bytes("/etc/hosts", []byte("x"), 0o644))
	err := img.Bytes("/etc/hosts/inner", []byte("x"), 0o644)
	require.Error(t, err, "a file cannot be a parent directory")
	assert.Contains(t, err.Error(), "/etc/hosts")
	err = img.File("/bin/missing", filepath.Join(t.TempDir(), "nope"), 0o755)
	require.Error(t, err, "a missing host file fails when added, not when written")
	assert.Contains(t, err.Error(), "/bin/missing")
	assert.Error(t, img.Symlink("/", "x"))
}

func TestImageTreeSkipsDirsAndLargeFiles(t *testing.T) {
	root := t.TempDir()
	for p, size := range map[string]int{"go.mod": 10, "pkg/a.go": 5, "pkg/testdata/big.bin": 100, ".git/HEAD": 3, "bin/tool": 4, "pkg/pkg.test": 4} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, p), make([]byte, size), 0o644))
	}
	img := NewImage()
	require.NoError(t, img.Tree("/src", root, map[string]bool{".git": true, "bin": true}, 50))
	assert.Equal(t, []string{
		"d 0755 /", "d 0755 /src", "f 0644 /src/go.mod 10", "d 0755 /src/pkg", "f 0644 /src/pkg/a.go 5", "d 0755 /src/pkg/testdata",
	}, img.Listing())
	var buf bytes.Buffer
	require.NoError(t, img.WriteCPIO(&buf))
	_, err := io.Copy(io.Discard, &buf)
	require.NoError(t, err)
}
