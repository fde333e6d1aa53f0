package ipamdclient

import (
	"context"
	"errors"
	"fmt"
)

// Code is a gRPC status code (the numbers of google.golang.org/grpc/codes).
type Code uint32

// The codes the plugin tells apart.
const (
	OK               Code = 0
	Canceled         Code = 1
	Unknown          Code = 2
	DeadlineExceeded Code = 4
	NotFound         Code = 5
	Unimplemented    Code = 12
	Internal         Code = 13
	Unavailable      Code = 14
)

var codeNames = [...]string{"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
	"AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
	"Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"}

// String is grpc's name of the code.
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", uint32(c))
}

// StatusError is a call that ended with a non-OK status; its text is the
// one grpc-go gives the same status, so messages built from it read the
// same as with the gRPC library.
type StatusError struct {
	Code    Code
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("rpc error: code = %s desc = %s", e.Code, e.Message)
}

// Errorf makes a status error (for fakes in tests).
func Errorf(c Code, format string, args ...any) error {
	return &StatusError{Code: c, Message: fmt.Sprintf(format, args...)}
}

// CodeOf is the status code of err: OK for nil, the code of a StatusError,
// DeadlineExceeded or Canceled for a context's errors, Unknown otherwise.
func CodeOf(err error) Code {
	var se *StatusError
	switch {
	case err == nil:
		return OK
	case errors.As(err, &se):
		return se.Code
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return Canceled
	}
	return Unknown
}
