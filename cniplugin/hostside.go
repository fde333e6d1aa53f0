package cniplugin

import (
	"errors"
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// selfNetNS is the plugin's own namespace: the node's, where the runtime
// runs it and where the host ends of veths go.
const selfNetNS = "/proc/self/ns/net"

// hostSide opens the node namespace the plugin runs in.
type hostSide struct {
	h  *netlink.Handle
	ns *os.File // for placing veth peers
}

// openHost binds a netlink socket in the namespace the plugin runs in,
// without switching namespaces: a socket belongs to the namespace of the
// thread that creates it, which for the plugin is the node's (nsutil
// restores or discards every thread it moves).
func openHost() (*hostSide, error) {
	f, err := os.Open(selfNetNS)
	if err != nil {
		return nil, fmt.Errorf("open node namespace: %w", err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("netlink handle in the node namespace: %w", err)
	}
	return &hostSide{h: h, ns: f}, nil
}

func (s *hostSide) Close() {
	s.h.Close()
	s.ns.Close()
}

func isGone(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT)
}
