package rpc

// Version is the ClientVersion the CNI plugin sends in every request and the
// version ipamd serves: ipamd refuses a request whose ClientVersion differs,
// as upstream's validateVersion does with the build version both binaries
// carry.
const Version = "v1.23.1-enilab"
