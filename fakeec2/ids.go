package fakeec2

import "strings"

// EC2's id syntax: a resource prefix, a dash and 8 or 17 lower-case hex
// digits. An id that breaks it is refused as *.Malformed before any lookup,
// as EC2 does; a well-formed id that names nothing is *.NotFound.

// defaultAMI is the image an instance runs when RunInstances names none.
const defaultAMI = "ami-0e11ab0000000000a"

// idKind is one resource type's prefix and the code EC2 answers for a
// malformed id of it.
type idKind struct {
	prefix, code string
}

var (
	eniIDs        = idKind{"eni", "InvalidNetworkInterfaceId.Malformed"}
	instanceIDs   = idKind{"i", "InvalidInstanceID.Malformed"}
	subnetIDs     = idKind{"subnet", "InvalidSubnetID.Malformed"}
	vpcIDs        = idKind{"vpc", "InvalidVpcID.Malformed"}
	groupIDs      = idKind{"sg", "InvalidGroupId.Malformed"}
	attachmentIDs = idKind{"eni-attach", "InvalidNetworkInterfaceAttachmentId.Malformed"}
	amiIDs        = idKind{"ami", "InvalidAMIID.Malformed"}
)

// wellFormed reports whether id follows EC2's syntax for kind k.
func (k idKind) wellFormed(id string) bool {
	hex, ok := strings.CutPrefix(id, k.prefix+"-")
	if !ok || (len(hex) != 8 && len(hex) != 17) {
		return false
	}
	for _, c := range hex {
		if !strings.ContainsRune(hexDigits, c) {
			return false
		}
	}
	return true
}

// malformed is EC2's answer to an id that breaks kind k's syntax, quoting
// the id as EC2 does.
func (k idKind) malformed(id string) *Error {
	return errCode(k.code, 400, "Invalid id: \"%s\" (expecting \"%s-...\")", truncate(id, 64), k.prefix)
}

// check returns the Malformed error for a malformed id, nil otherwise.
func (k idKind) check(id string) *Error {
	if k.wellFormed(id) {
		return nil
	}
	return k.malformed(id)
}

// checkIDs returns the first Malformed error among ids.
func (k idKind) checkIDs(ids []string) *Error {
	for _, id := range ids {
		if e := k.check(id); e != nil {
			return e
		}
	}
	return nil
}
