package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

const lddIP = `	linux-vdso.so.1 (0x00007f7f5787d000)
	libbpf.so.1 => /lib/x86_64-linux-gnu/libbpf.so.1 (0x00007f7f5771c000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f7f574f3000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f7f5787f000)
	libmd.so.0 => /lib/x86_64-linux-gnu/libmd.so.0 (0x00007f7f574c7000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f7f574f3000)
`

func TestParseLdd(t *testing.T) {
	assert.Equal(t, []string{
		"/lib/x86_64-linux-gnu/libbpf.so.1",
		"/lib/x86_64-linux-gnu/libc.so.6",
		"/lib64/ld-linux-x86-64.so.2",
		"/lib/x86_64-linux-gnu/libmd.so.0",
	}, ParseLdd(lddIP), "the vDSO is not a file; duplicates once")
	assert.Empty(t, ParseLdd("\tnot a dynamic executable\n"))
	assert.Empty(t, MissingLibs(lddIP))
	assert.Equal(t, []string{"libgone.so.3"}, MissingLibs("\tlibgone.so.3 => not found\n"+lddIP))
}
