package netsetup

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/enilab/enilab/internal/nsutil"
)

// waitLinkByMAC polls for the link carrying mac until wait has passed.
func waitLinkByMAC(h *netlink.Handle, mac string, wait time.Duration) (netlink.Link, error) {
	deadline := time.Now().Add(wait)
	delay := 20 * time.Millisecond
	for {
		link, err := linkByMAC(h, mac)
		if err == nil || !errors.Is(err, ErrLinkNotFound) || time.Now().After(deadline) {
			if errors.Is(err, ErrLinkNotFound) {
				err = fmt.Errorf("%w after waiting %v", err, wait)
			}
			return link, err
		}
		time.Sleep(delay)
		if delay < 500*time.Millisecond {
			delay *= 2
		}
	}
}

// linkByMAC finds the link carrying mac; ErrLinkNotFound (wrapped) when
// none does.
func linkByMAC(h *netlink.Handle, mac string) (netlink.Link, error) {
	want, err := net.ParseMAC(mac)
	if err != nil {
		return nil, fmt.Errorf("MAC %q: %w", mac, err)
	}
	links, err := nsutil.Retry(func() ([]netlink.Link, error) { return h.LinkList() })
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		if strings.EqualFold(l.Attrs().HardwareAddr.String(), want.String()) {
			return l, nil
		}
	}
	return nil, fmt.Errorf("%w %s", ErrLinkNotFound, want)
}

// LinkIndexByMAC is the index of the link carrying mac in the namespace
// at nsPath (upstream's getTrunkLinkIndex looks up the trunk ENI so);
// ErrLinkNotFound (wrapped) when none does.
func LinkIndexByMAC(nsPath, mac string) (int, error) {
	h, err := nsutil.Handle(nsPath)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	l, err := linkByMAC(h, mac)
	if err != nil {
		return 0, err
	}
	return l.Attrs().Index, nil
}

func isLinkGone(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}
