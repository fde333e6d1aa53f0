package fakeec2

import "fmt"

// Error is an EC2 API error: the code clients switch on, the message they
// parse (NotFound messages quote the id), and the HTTP status EC2 uses.
type Error struct {
	Code    string
	Message string
	Status  int
}

// Error formats the code and message as the SDK prints them.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// The EC2 errors the state model answers with; every constructor carries
// the code a real client would see.

func errCode(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

func invalidParam(format string, args ...any) *Error {
	return errCode("InvalidParameterValue", 400, format, args...)
}

func missingParam(name string) *Error {
	return errCode("MissingParameter", 400, "The request must contain the parameter %s", name)
}

func notFound(code, kind, id string) *Error {
	return errCode(code, 400, "The %s ID '%s' does not exist", kind, id)
}

// The NotFound constructors answer Malformed for an id that breaks EC2's
// syntax: such an id can never exist, and EC2 checks syntax first.

func eniNotFound(id string) *Error {
	if e := eniIDs.check(id); e != nil {
		return e
	}
	return notFound("InvalidNetworkInterfaceID.NotFound", "networkInterface", id)
}
func instanceNotFound(id string) *Error {
	if e := instanceIDs.check(id); e != nil {
		return e
	}
	return notFound("InvalidInstanceID.NotFound", "instance", id)
}
func subnetNotFound(id string) *Error {
	if e := subnetIDs.check(id); e != nil {
		return e
	}
	return notFound("InvalidSubnetID.NotFound", "subnet", id)
}
func vpcNotFound(id string) *Error {
	if e := vpcIDs.check(id); e != nil {
		return e
	}
	return notFound("InvalidVpcID.NotFound", "vpc", id)
}
func attachmentNotFound(id string) *Error {
	if e := attachmentIDs.check(id); e != nil {
		return e
	}
	return notFound("InvalidAttachmentID.NotFound", "attachment", id)
}

// securityGroupNotFound is what CreateNetworkInterface answers for an
// unknown group; RunInstances and ModifyNetworkInterfaceAttribute answer
// groupNotFound.
func securityGroupNotFound(id string) *Error {
	if e := groupIDs.check(id); e != nil {
		return e
	}
	return notFound("InvalidSecurityGroupID.NotFound", "securityGroup", id)
}

func groupNotFound(id string) *Error {
	if e := groupIDs.check(id); e != nil {
		return e
	}
	return errCode("InvalidGroup.NotFound", 400, "The security group '%s' does not exist", id)
}

func insufficientAddresses(sn *subnet) *Error {
	return errCode("InsufficientFreeAddressesInSubnet", 400,
		"The specified subnet %s does not have enough free addresses to satisfy the request.", sn.id)
}
