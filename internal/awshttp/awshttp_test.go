package awshttp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type recorder struct{ body io.ReadCloser }

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.body = req.Body
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

func TestBodyLosesWriteTo(t *testing.T) {
	rec := &recorder{}
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", strings.NewReader("Action=DescribeVpcs"))
	require.NoError(t, err)
	_, isWriterTo := req.Body.(io.WriterTo)
	require.True(t, isWriterTo, "precondition: strings.Reader bodies expose WriteTo")

	_, err = Wrap(rec).Do(req)
	require.NoError(t, err)
	_, isWriterTo = rec.body.(io.WriterTo)
	assert.False(t, isWriterTo, "the transport must see a body without WriteTo")
	b, err := io.ReadAll(rec.body)
	require.NoError(t, err)
	assert.Equal(t, "Action=DescribeVpcs", string(b), "the body still reads in full")
}

func TestEmptyBodyUntouched(t *testing.T) {
	rec := &recorder{}
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	require.NoError(t, err)
	_, err = Wrap(rec).Do(req)
	require.NoError(t, err)
	assert.Nil(t, rec.body)
}

func TestWrapNilUsesSDKDefault(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("ping"))
	require.NoError(t, err)
	resp, err := Wrap(nil).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(b))
}
