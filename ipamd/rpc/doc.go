// Package rpc is the gRPC protocol between the CNI plugin and ipamd, generated
// from rpc.proto (make proto regenerates it).
package rpc

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative rpc.proto
