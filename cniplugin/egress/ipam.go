package egress

import (
	"errors"
	"fmt"
	"net"

	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/allocator"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/disk"
)

// hostLocal is host-local's ADD, DEL and CHECK on its own allocator and
// disk store, in process: what upstream gets by executing the host-local
// binary (hostLocalIpamAdd, ec.Ipam.ExecDel). The addresses live in the
// configuration's dataDir, one file per address named by it, keyed by
// container id and ifName as host-local keys them.
type hostLocal struct {
	conf    *allocator.IPAMConfig
	version string
}

func loadHostLocal(stdin []byte, cniArgs string) (*hostLocal, error) {
	c, v, err := allocator.LoadIPAMConfig(stdin, cniArgs)
	if err != nil {
		return nil, fmt.Errorf("egress-cni: host-local configuration: %w", err)
	}
	return &hostLocal{conf: c, version: v}, nil
}

// open opens host-local's store of the configured network (the caller
// closes it).
func (h *hostLocal) open() (*disk.Store, error) {
	store, err := disk.New(h.conf.Name, h.conf.DataDir)
	if err != nil {
		return nil, fmt.Errorf("egress-cni: host-local store %s: %w", h.conf.DataDir, err)
	}
	return store, nil
}

// add allocates one address per range (upstream's conflist has one range)
// and returns host-local's result; it must hold exactly one address.
func (h *hostLocal) add(id, ifName string) (*types100.Result, error) {
	store, err := h.open()
	if err != nil {
		return nil, err
	}
	defer store.Close()
	res := &types100.Result{CNIVersion: types100.ImplementedSpecVersion, Routes: h.conf.Routes}
	var allocs []*allocator.IPAllocator
	for i := range h.conf.Ranges {
		a := allocator.NewIPAllocator(&h.conf.Ranges[i], store, i)
		ipc, err := a.Get(id, ifName, nil)
		if err != nil {
			for _, got := range allocs {
				_ = got.Release(id, ifName)
			}
			return nil, fmt.Errorf("egress-cni: running IPAM plugin failed: failed to allocate for range %d: %w", i, err)
		}
		allocs = append(allocs, a)
		res.IPs = append(res.IPs, ipc)
	}
	switch len(res.IPs) {
	case 1:
		return res, nil
	case 0:
		return nil, errors.New("egress-cni: IPAM plugin returned zero IPs")
	default:
		for _, a := range allocs {
			_ = a.Release(id, ifName)
		}
		return nil, fmt.Errorf("egress-cni: IPAM plugin is expected to return 1 IP address, but returned %d IPs", len(res.IPs))
	}
}

// del releases the container's addresses in every range.
func (h *hostLocal) del(id, ifName string) error {
	store, err := h.open()
	if err != nil {
		return err
	}
	defer store.Close()
	var errs []error
	for i := range h.conf.Ranges {
		if err := allocator.NewIPAllocator(&h.conf.Ranges[i], store, i).Release(id, ifName); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("egress-cni: running IPAM plugin failed: %w", err)
	}
	return nil
}

// reserved is what the store holds for the container (disk.GetByID).
func (h *hostLocal) reserved(id, ifName string) ([]net.IP, error) {
	store, err := h.open()
	if err != nil {
		return nil, err
	}
	defer store.Close()
	return store.GetByID(id, ifName), nil
}

// holds is host-local's CHECK: some address is reserved for the container.
func (h *hostLocal) holds(id, ifName string) (bool, error) {
	store, err := h.open()
	if err != nil {
		return false, err
	}
	defer store.Close()
	return store.FindByID(id, ifName), nil
}
