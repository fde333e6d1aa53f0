// Package awshttp is the HTTP client enilab hands to aws-sdk-go-v2.
//
// smithy-go wraps a request body in a "safe" closer whose WriteTo answers
// (0, io.EOF) once the SDK has closed the body, and the SDK closes it as soon
// as response headers arrive. net/http's write loop may still be in its
// trailing body check at that moment; io.Copy passes WriteTo's io.EOF on as
// an error, the transport calls it a write error and closes the connection
// under the response being read ("use of closed network connection"). Real
// EC2 is milliseconds away and never answers that fast; fakeec2 answers in
// microseconds and trips it on large responses (aws/aws-sdk-go-v2#2737).
// Hiding WriteTo makes the transport use Read, for which a closed body is a
// clean end of stream.
package awshttp

import (
	"io"
	"net/http"

	sdkhttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// Doer is the SDK's HTTP client interface (aws.HTTPClient).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Client sends SDK requests through next with bodies that expose only Read
// and Close.
type Client struct{ next Doer }

// New returns a Client over the SDK's default buildable client.
func New() *Client { return Wrap(sdkhttp.NewBuildableClient()) }

// Wrap returns a Client over next; a nil next (an SDK client's options
// before the SDK fills in its default) means the SDK's default client.
func Wrap(next Doer) *Client {
	if next == nil {
		next = sdkhttp.NewBuildableClient()
	}
	return &Client{next: next}
}

// Do sends r with its body's WriteTo hidden.
func (c *Client) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = readOnly{r.Body}
	}
	return c.next.Do(r)
}

// readOnly embeds only io.ReadCloser, so WriteTo is not in its method set.
type readOnly struct{ io.ReadCloser }
