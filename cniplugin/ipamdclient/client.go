// Package ipamdclient is the CNI plugin's client of ipamd's gRPC service
// (ipamd/rpc: CNIBackend and grpc.health.v1), written without the gRPC and
// protobuf libraries: the plugin is a process started for every pod, and
// those libraries' size and package initialisation cost more than the call.
// Each call opens the unix socket, speaks one HTTP/2 stream and closes it;
// nothing blocks before the first call, and a dead socket fails at once
// with Unavailable. The server side stays grpc-go.
package ipamdclient

import (
	"context"
	"fmt"
)

// Version is the protocol version the plugin sends as ClientVersion; it
// must equal ipamd/rpc.Version (a test holds them together).
const Version = "v1.23.1-enilab"

// Full method names of ipamd/rpc's CNIBackend and of the health service.
const (
	MethodAddNetwork  = "/rpc.CNIBackend/AddNetwork"
	MethodDelNetwork  = "/rpc.CNIBackend/DelNetwork"
	MethodHealthCheck = "/grpc.health.v1.Health/Check"
)

// Client calls ipamd at one unix socket.
type Client struct{ socket string }

// New prepares a client; nothing is sent until a call.
func New(socket string) *Client { return &Client{socket: socket} }

// Close releases nothing (every call closes its connection); it is there
// for the plugin's backend interface.
func (c *Client) Close() error { return nil }

// AddNetwork asks ipamd for an address.
func (c *Client) AddNetwork(ctx context.Context, in *AddNetworkRequest) (*AddNetworkReply, error) {
	b, err := c.call(ctx, MethodAddNetwork, in.marshal())
	if err != nil {
		return nil, err
	}
	out := &AddNetworkReply{}
	if err := out.unmarshal(b); err != nil {
		return nil, &StatusError{Code: Internal, Message: "AddNetworkReply: " + err.Error()}
	}
	return out, nil
}

// DelNetwork asks ipamd to release an address.
func (c *Client) DelNetwork(ctx context.Context, in *DelNetworkRequest) (*DelNetworkReply, error) {
	b, err := c.call(ctx, MethodDelNetwork, in.marshal())
	if err != nil {
		return nil, err
	}
	out := &DelNetworkReply{}
	if err := out.unmarshal(b); err != nil {
		return nil, &StatusError{Code: Internal, Message: "DelNetworkReply: " + err.Error()}
	}
	return out, nil
}

// HealthStatus is grpc.health.v1's ServingStatus.
type HealthStatus int32

// Serving is the status of a healthy server.
const Serving HealthStatus = 1

func (s HealthStatus) String() string {
	switch s {
	case 0:
		return "UNKNOWN"
	case 1:
		return "SERVING"
	case 2:
		return "NOT_SERVING"
	case 3:
		return "SERVICE_UNKNOWN"
	}
	return fmt.Sprintf("HealthStatus(%d)", int32(s))
}

// Health calls the health service for the server as a whole (service "").
func (c *Client) Health(ctx context.Context) (HealthStatus, error) {
	b, err := c.call(ctx, MethodHealthCheck, nil)
	if err != nil {
		return 0, err
	}
	var r healthResponse
	if err := r.unmarshal(b); err != nil {
		return 0, &StatusError{Code: Internal, Message: "HealthCheckResponse: " + err.Error()}
	}
	return HealthStatus(r.status), nil
}
