package cniplugin

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// skel leaves stdin unread for VERSION and for a missing variable: the
// goroutine feeding it must still end before withStdin returns, however
// much there was to feed (more than a pipe buffer here).
func TestWithStdinOwnsItsFeeder(t *testing.T) {
	before := os.Stdin
	big := bytes.Repeat([]byte("x"), 1<<20)
	e := withStdin(big, func() *types.Error { return nil })
	assert.Nil(t, e)
	assert.Same(t, before, os.Stdin, "os.Stdin is restored")

	var got []byte
	e = withStdin(big, func() *types.Error {
		var err error
		got, err = io.ReadAll(os.Stdin)
		require.NoError(t, err)
		return nil
	})
	assert.Nil(t, e)
	assert.Equal(t, big, got, "skel reads exactly the bytes run read")
}
